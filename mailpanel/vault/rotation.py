"""Key rotation: move everything a master key protects onto the active one, in resumable batches.

With data keys a master key protects one small row per user (their wrapped data key), so
a rotation rewraps those rows and writes no sealed secret at all. Sealed rows still in the
legacy ``v1`` format (under a master key) are resealed onto their owner's data key, and
allauth's two-factor secrets (under a master key) are re-encrypted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, QuerySet

from mailpanel.accounts.mfa_secrets import authenticator_key_usage, reseal_authenticators
from mailpanel.vault.datakeys import data_key_usage, rewrap_batch
from mailpanel.vault.keyring import (
    DATA_KEY_MARK,
    VaultError,
    get_keyring,
    new_master_key,
    reset_keyring,
)
from mailpanel.vault.sealed import Sealed, sealed_models

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RotationResult:
    active_key: str
    resealed: int  # rows written: data keys rewrapped, legacy secrets resealed, authenticators
    remaining: int


def key_usage() -> Counter[str]:
    """How many rows each master key id still protects: data keys, legacy sealed rows and
    allauth's two-factor secrets."""
    counts = data_key_usage()
    for model in sealed_models():
        for kid, n in _legacy_grouped(model):
            counts[kid] += n
    return counts + authenticator_key_usage()


def _legacy_grouped(model: type[Sealed]) -> list[tuple[str, int]]:
    rows = _legacy(model).values("secret_key_id").annotate(n=Count("pk"))
    return [(row["secret_key_id"], row["n"]) for row in rows]


def _legacy(model: type[Sealed]) -> QuerySet[Sealed]:
    return model._default_manager.exclude(secret_key_id=DATA_KEY_MARK)


def pending() -> int:
    """Rows a rotation still has to write to finish: under an old master key, or legacy."""
    active = get_keyring().active_id
    usage = key_usage()
    legacy_active = sum(_legacy(m).filter(secret_key_id=active).count() for m in sealed_models())
    return sum(n for kid, n in usage.items() if kid != active) + legacy_active


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
    """Rewrap data keys and reseal legacy secrets under the active key. Safe to interrupt
    and run again; ``resealed`` counts the rows written."""
    active = get_keyring().active_id
    total = pending()
    done = batches = 0
    steps: list[Callable[[], int]] = [lambda: rewrap_batch(batch_size)]
    steps += [_legacy_step(model, batch_size) for model in sealed_models()]
    for step in steps:
        while max_batches is None or batches < max_batches:
            moved = step()
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
    return RotationResult(active_key=active, resealed=done, remaining=max(total - done, 0))


def _legacy_step(model: type[Sealed], batch_size: int) -> Callable[[], int]:
    return lambda: _reseal_batch(model, batch_size)


def _reseal_batch(model: type[Sealed], batch_size: int) -> int:
    """Move up to ``batch_size`` legacy rows onto their owners' data keys."""
    with transaction.atomic():
        rows = list(_legacy(model).select_for_update().order_by("pk")[:batch_size])
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
