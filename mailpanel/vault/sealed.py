"""Models that hold a secret inherit ``Sealed``: one encrypted JSON payload per row.

The payload is encrypted with the owner's data key (``v2:dk:...``, see ``vault.datakeys``)
and bound to (model, field, row, owner); ``secret_key_id`` is then ``"dk"``. Rows sealed
before data keys existed (``v1``, under a master key, whose id ``secret_key_id`` names)
still open. ``sealed_models()`` finds them all, so rotation and status reach every one.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from django.db import models

from mailpanel.vault.keyring import DATA_KEY_MARK, is_legacy


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
        from mailpanel.vault.datakeys import seal_secret  # it needs the models, which need us

        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        self.secret = seal_secret(text.encode(), self._place(), getattr(self, self.owner_field))
        self.secret_key_id = DATA_KEY_MARK

    def unseal(self) -> dict[str, Any]:
        """The plaintext payload. Callers outside the vault use ``vault.access`` instead."""
        from mailpanel.vault.datakeys import open_secret

        owner = getattr(self, self.owner_field)
        data = json.loads(open_secret(self.secret, self._place(), owner))
        if not isinstance(data, dict):
            raise ValueError("sealed payload is not an object")
        return data

    def reseal(self) -> bool:
        """Move a legacy ``v1`` secret onto the owner's data key. True when it changed."""
        if not is_legacy(self.secret):
            return False
        self.seal(self.unseal())
        return True
