"""allauth's two-factor secrets (TOTP key, recovery-code seed) sealed by the vault.

A sealed value reads ``vault:v1:<key id>:<ciphertext>``. A clear TOTP key is base32 and a
clear seed is hex, so neither can start with the prefix. allauth passes a bare string to
its ``encrypt`` hook, without the row it belongs to, so the place bound into the ciphertext
is the column (``mfa.authenticator|data``), not the row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from allauth.mfa.models import Authenticator
from django.db import transaction

from mailpanel.vault.keyring import get_keyring, key_id_of
from mailpanel.vault.redaction import register_secret

SEALED_PREFIX = "vault:"
PLACE = "mfa.authenticator|data"
# The values allauth passes through encrypt()/decrypt(): the TOTP key, the recovery-code
# seed, and codes carried over from another 2FA package (a list).
SECRET_KEYS = ("secret", "seed")
SECRET_LIST_KEYS = ("migrated_codes",)


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def seal(text: str) -> str:
    return SEALED_PREFIX + get_keyring().encrypt(text.encode(), PLACE)


def unseal(value: str) -> str:
    """The clear value. A value stored before sealing began passes through unchanged."""
    if not is_sealed(value):
        return value
    text = get_keyring().decrypt(value.removeprefix(SEALED_PREFIX), PLACE).decode()
    register_secret(text)  # like every vault secret: never in a log line from here on
    return text


def seal_if_clear(value: str) -> str:
    return value if is_sealed(value) else seal(value)


def key_id(value: str) -> str | None:
    return key_id_of(value.removeprefix(SEALED_PREFIX)) if is_sealed(value) else None


def map_secrets(data: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    """A copy of an authenticator's ``data`` with ``change`` applied to each secret value."""
    out = dict(data)
    for name in SECRET_KEYS:
        if isinstance(out.get(name), str):
            out[name] = change(out[name])
    for name in SECRET_LIST_KEYS:
        if isinstance(out.get(name), list):
            out[name] = [change(v) if isinstance(v, str) else v for v in out[name]]
    return out


def secret_values(data: dict[str, Any]) -> list[str]:
    values = [data.get(name) for name in SECRET_KEYS]
    values += [v for name in SECRET_LIST_KEYS for v in data.get(name) or []]
    return [v for v in values if isinstance(v, str)]


def rewrite_all(rows: Iterable[Any], change: Callable[[str], str]) -> int:
    """Apply ``change`` to every secret of each authenticator row (allauth's model or a
    migration's historical one); the number of rows changed."""
    changed = 0
    for row in rows:
        data = map_secrets(row.data, change)
        if data != row.data:
            row.data = data
            row.save(update_fields=["data"])
            changed += 1
    return changed


def authenticator_key_usage() -> Counter[str]:
    """How many authenticators each vault key protects (rotation and `vault status`)."""
    counts: Counter[str] = Counter()
    for data in Authenticator.objects.values_list("data", flat=True).iterator():
        counts.update({kid for value in secret_values(data) if (kid := key_id(value))})
    return counts


def reseal_authenticators() -> int:
    """Re-encrypt every authenticator secret not under the active key; rows changed."""
    active = get_keyring().active_id

    def reseal(value: str) -> str:
        return seal(unseal(value)) if is_sealed(value) and key_id(value) != active else value

    with transaction.atomic():
        return rewrite_all(Authenticator.objects.select_for_update().order_by("pk"), reseal)
