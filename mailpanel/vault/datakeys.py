"""Per-user data keys: made on a user's first seal, rewrapped on rotation, shredded for good.

Every sealed secret of a user is encrypted with that user's data key (``v2:dk:...``, see
``vault.keyring``); the data key itself is stored only wrapped by a master key on the
user's ``DataKey`` row. ``shred_data_key`` empties that row, and from then on none of the
user's secrets opens with any master key, wherever the ciphertexts were copied. A backup
taken before holds the row as it was, wrapped by the master key of its day: it is shredded
too once that master key is rotated out and retired (``vault rotate``, ``vault retire``).

Unwrapped data keys are not cached: each open reads the row (one indexed query), so a
shredded key can never be served from memory, and unwrapping 32 bytes costs microseconds.
"""

from __future__ import annotations

from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import Count, Model, QuerySet
from django.utils import timezone

from mailpanel.vault.keyring import (
    DATA_KEY_MARK,
    DecryptionError,
    Keyring,
    decrypt_with_data_key,
    encrypt_with_data_key,
    get_keyring,
    is_legacy,
    new_data_key,
)
from mailpanel.vault.models import DataKey
from mailpanel.vault.sealed import sealed_models

OwnerRef = Model | int


class DataKeyShredded(DecryptionError):
    """The user's data key was destroyed (or never kept): their secrets are gone for good."""


def owner_pk_of(user_or_pk: OwnerRef) -> int:
    return int(user_or_pk.pk if isinstance(user_or_pk, Model) else user_or_pk)


def seal_secret(plaintext: bytes, place: str, owner_pk: int) -> str:
    """A ``v2`` ciphertext under the owner's data key, made on their first seal."""
    ring = get_keyring()
    row = DataKey.objects.filter(owner_id=owner_pk).first() or _create(owner_pk, ring)
    return encrypt_with_data_key(_unwrap(row, ring), plaintext, place)


def open_secret(token: str, place: str, owner_pk: int, keyring: Keyring | None = None) -> bytes:
    """The plaintext of a ``v2`` token (the owner's data key) or a legacy ``v1`` one."""
    ring = keyring or get_keyring()
    if is_legacy(token):
        return ring.decrypt(token, place)
    row = DataKey.objects.filter(owner_id=owner_pk).first()
    if row is None:
        raise DataKeyShredded(f"user {owner_pk} has no data key: none of their secrets opens")
    return decrypt_with_data_key(_unwrap(row, ring), token, place)


def _create(owner_pk: int, ring: Keyring) -> DataKey:
    wrapped = ring.wrap_data_key(new_data_key(), owner_pk)
    try:
        with transaction.atomic():  # a savepoint: a concurrent first seal may win the race
            return DataKey.objects.create(
                owner_id=owner_pk, wrapped=wrapped, wrapped_key_id=ring.active_id
            )
    except IntegrityError:
        return DataKey.objects.get(owner_id=owner_pk)  # the winner's key: both seal with it


def _unwrap(row: DataKey, ring: Keyring) -> bytes:
    if not row.wrapped:
        raise DataKeyShredded(
            f"the data key of user {row.owner_id} was shredded: their secrets are gone for good"
        )
    return ring.unwrap_data_key(row.wrapped, row.owner_id)


def has_live_data_key(user_or_pk: OwnerRef) -> bool:
    owner_pk = owner_pk_of(user_or_pk)
    return DataKey.objects.filter(owner_id=owner_pk).exclude(wrapped="").exists()


def shred_data_key(user_or_pk: OwnerRef) -> None:
    """Destroy the user's data key irreversibly. Idempotent.

    Every ``v2`` secret of theirs stops opening with any master key; the row stays so no
    new key is ever made for them (sealing raises ``DataKeyShredded``). Their legacy ``v1``
    secrets, which a master key would still open, are blanked.
    """
    owner_pk = owner_pk_of(user_or_pk)
    with transaction.atomic():
        if not _shred_row(owner_pk) and not DataKey.objects.filter(owner_id=owner_pk).exists():
            _create_shredded(owner_pk)
        _blank_legacy_secrets(owner_pk)


def _shred_row(owner_pk: int) -> int:
    live = DataKey.objects.filter(owner_id=owner_pk, shredded_at__isnull=True)
    return live.update(wrapped="", wrapped_key_id="", shredded_at=timezone.now())


def _create_shredded(owner_pk: int) -> None:
    try:
        with transaction.atomic():  # no key yet: a shredded row, so none is ever made
            DataKey.objects.create(owner_id=owner_pk, shredded_at=timezone.now())
    except IntegrityError:
        _shred_row(owner_pk)  # a first seal made one meanwhile: shred that one


def _blank_legacy_secrets(owner_pk: int) -> None:
    for model in sealed_models():
        rows = model._default_manager.filter(**{model.owner_field: owner_pk})
        # Blank and marked as data-key secrets: opening them now says "shredded".
        rows.exclude(secret_key_id=DATA_KEY_MARK).update(secret="", secret_key_id=DATA_KEY_MARK)


def stale_data_keys(active_id: str) -> QuerySet[DataKey]:
    """Live data keys wrapped by a master key other than ``active_id``."""
    return DataKey.objects.exclude(wrapped="").exclude(wrapped_key_id=active_id)


def rewrap_batch(batch_size: int) -> int:
    """Rewrap up to ``batch_size`` stale data keys with the active master key; rows written."""
    ring = get_keyring()
    with transaction.atomic():
        rows = list(stale_data_keys(ring.active_id).select_for_update().order_by("pk")[:batch_size])
        for row in rows:
            data_key = ring.unwrap_data_key(row.wrapped, row.owner_id)
            row.wrapped = ring.wrap_data_key(data_key, row.owner_id)
            row.wrapped_key_id = ring.active_id
            row.save(update_fields=["wrapped", "wrapped_key_id"])
    return len(rows)


def data_key_usage() -> Counter[str]:
    """How many live data keys each master key wraps."""
    rows = DataKey.objects.exclude(wrapped="").values("wrapped_key_id").annotate(n=Count("pk"))
    return Counter({row["wrapped_key_id"]: row["n"] for row in rows})


def data_key_counts() -> tuple[int, int]:
    """(live, shredded) data keys, for `vault status`."""
    shredded = DataKey.objects.filter(wrapped="").count()
    return DataKey.objects.count() - shredded, shredded
