"""Credentials: a label and public metadata in the clear, the secret sealed by the vault.

``DataKey``: each user's data key, wrapped by a master key (see ``vault.keyring``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mailpanel.vault.kinds import KINDS
from mailpanel.vault.sealed import Sealed

KIND_CHOICES = [(kind.value, kind.label) for kind in KINDS.values()]


class Credential(Sealed):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials"
    )
    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    label = models.CharField(max_length=100)
    # Public facts only: fingerprint, key type, public key, the last 4 characters of a token.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "label"], name="credential_label_unique")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind].label

    @property
    def summary(self) -> str:
        """What the owner may see about the secret: never the secret."""
        meta = self.metadata
        if self.kind == "ssh_key":
            bits = f" {meta['bits']}" if meta.get("bits") else ""
            return f"{meta.get('key_type', '')}{bits} · {meta.get('fingerprint', '')}"
        if meta.get("hint"):
            return f"ends in …{meta['hint']}"
        return "stored encrypted"


class DataKey(models.Model):
    """One user's data key, wrapped by a master key; every sealed secret of theirs uses it.

    Shredding empties ``wrapped`` and keeps the row, so no new key is ever made for that
    user and their old ciphertexts stay unreadable. Logic lives in ``vault.datakeys``.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_key"
    )
    wrapped = models.TextField(blank=True, editable=False)
    # The master key that wraps it ("" once shredded): rotation and `vault status` count these.
    wrapped_key_id = models.CharField(max_length=32, blank=True, editable=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key of user {self.owner_id}"

    @property
    def is_shredded(self) -> bool:
        return self.shredded_at is not None
