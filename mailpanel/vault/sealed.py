"""Models that hold a secret inherit ``Sealed``: one encrypted JSON payload per row.

The payload is encrypted with the active vault key and bound to (model, field, row,
owner). ``sealed_models()`` finds them all, so rotation and status reach every one.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from django.db import models

from mailpanel.vault.keyring import get_keyring, key_id_of


def sealed_models() -> list[type[Sealed]]:
    """Every concrete model that holds a sealed secret (rotation and status walk them all)."""
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Sealed)]


class Sealed(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    secret = models.TextField(editable=False)
    secret_key_id = models.CharField(max_length=32, editable=False, db_index=True)

    owner_field: ClassVar[str] = "owner_id"

    class Meta:
        abstract = True

    def _place(self) -> str:
        owner = getattr(self, self.owner_field)
        if self.pk is None or owner is None:
            raise ValueError("a sealed row needs its id and owner before it holds a secret")
        return f"{self._meta.label_lower}|secret|{self.pk}|{owner}"

    def seal(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        self.secret = get_keyring().encrypt(text.encode(), self._place())
        self.secret_key_id = key_id_of(self.secret)

    def unseal(self) -> dict[str, Any]:
        """The plaintext payload. Callers outside the vault use ``vault.access`` instead."""
        data = json.loads(get_keyring().decrypt(self.secret, self._place()))
        if not isinstance(data, dict):
            raise ValueError("sealed payload is not an object")
        return data

    def reseal(self) -> bool:
        """Re-encrypt with the active key. True when it changed."""
        if self.secret_key_id == get_keyring().active_id:
            return False
        self.seal(self.unseal())
        return True
