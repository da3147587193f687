"""Key rotation: re-encrypt every sealed secret with the active key, in resumable batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from mailpanel.accounts.mfa_secrets import authenticator_key_usage, reseal_authenticators
from mailpanel.vault.keyring import VaultError, get_keyring, new_master_key, reset_keyring
from mailpanel.vault.sealed import sealed_models

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RotationResult:
    active_key: str
    resealed: int
    remaining: int


def key_usage() -> Counter[str]:
    """How many secrets each key id still protects, across every sealed model."""
    counts: Counter[str] = Counter()
    for model in sealed_models():
        for kid, n in _grouped(model):
            counts[kid] += n
    # allauth's two-factor secrets are sealed too, outside any Sealed model.
    return counts + authenticator_key_usage()


def _grouped(model: type) -> list[tuple[str, int]]:
    from django.db.models import Count

    rows = model._default_manager.values("secret_key_id").annotate(n=Count("pk"))  # type: ignore[attr-defined]
    return [(row["secret_key_id"], row["n"]) for row in rows]


def add_key() -> str:
    """Append a fresh key to the key file; it becomes the active key."""
    keyring = get_keyring()
    key = new_master_key()
    keyring.add(key)
    keyring.save()
    reset_keyring()
    return key.id


def reseal_all(
    batch_size: int = 200, max_batches: int | None = None, progress: Progress | None = None
) -> RotationResult:
    """Re-encrypt secrets not under the active key. Safe to interrupt and run again."""
    active = get_keyring().active_id
    total = sum(n for kid, n in key_usage().items() if kid != active)
    done = batches = 0
    for model in sealed_models():
        while max_batches is None or batches < max_batches:
            moved = _reseal_batch(model, active, batch_size)
            if not moved:
                break
            done += moved
            batches += 1
            if progress:
                progress(done, total)
    if max_batches is None or batches < max_batches:
        moved = reseal_authenticators()  # allauth's two-factor secrets: a few rows a user
        done += moved
        if moved and progress:
            progress(done, total)
    return RotationResult(active_key=active, resealed=done, remaining=total - done)


def _reseal_batch(model: type, active: str, batch_size: int) -> int:
    manager = model._default_manager  # type: ignore[attr-defined]
    with transaction.atomic():
        rows = list(
            manager.select_for_update().exclude(secret_key_id=active).order_by("pk")[:batch_size]
        )
        for row in rows:
            row.reseal()
            row.save(update_fields=["secret", "secret_key_id"])
    return len(rows)


def retire_key(kid: str) -> None:
    """Remove a key from the key file, only when no secret depends on it any more."""
    keyring = get_keyring()
    if kid == keyring.active_id:
        raise VaultError(f"key {kid} is the active key and cannot be retired")
    still = key_usage().get(kid, 0)
    if still:
        raise VaultError(f"key {kid} still protects {still} secret(s): run `vault rotate` first")
    keyring.remove(kid)
    keyring.save()
    reset_keyring()
