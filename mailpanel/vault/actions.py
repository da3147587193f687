from __future__ import annotations

from typing import Any

import asyncssh
from django.db import transaction
from django.db.models import Model

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.vault.kinds import KINDS, check_payload
from mailpanel.vault.models import Credential


class CredentialInUse(Exception):
    def __init__(self, usages: list[str]) -> None:
        super().__init__("in use by " + ", ".join(usages))
        self.usages = usages


def create_credential(
    owner: User, kind: str, label: str, data: dict[str, str], *, generated: bool = False
) -> Credential:
    """Validate, seal and store. Raises ValidationError and stores nothing on bad input.

    ``generated`` marks a key the panel made for the user: theirs to take in an export.
    """
    payload, metadata = check_payload(KINDS[kind], data)
    if generated:
        metadata["generated"] = True
    with transaction.atomic():
        credential = Credential(owner=owner, kind=kind, label=label, metadata=metadata)
        credential.seal(payload)
        credential.save()
        record_event(owner, "credential.created", credential, actor=owner)
    return credential


def generate_ssh_key(owner: User, label: str) -> Credential:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"mailpanel:{label}")
    pem = key.export_private_key().decode()
    payload = {"private_key": pem, "passphrase": ""}
    return create_credential(owner, "ssh_key", label, payload, generated=True)


def rename_credential(credential: Credential, label: str) -> Credential:
    with transaction.atomic():
        credential.label = label
        credential.save(update_fields=["label", "updated_at"])
        record_event(credential.owner, "credential.renamed", credential, actor=credential.owner)
    return credential


def replace_secret(credential: Credential, data: dict[str, str]) -> Credential:
    payload, metadata = check_payload(KINDS[credential.kind], data)
    with transaction.atomic():
        credential.metadata = metadata
        credential.seal(payload)
        credential.save(update_fields=["secret", "secret_key_id", "metadata", "updated_at"])
        record_event(credential.owner, "credential.replaced", credential, actor=credential.owner)
    return credential


def credential_usages(credential: Credential) -> list[str]:
    """Every object that points at this credential, described for a person."""
    usages: list[str] = []
    for relation in credential._meta.related_objects:
        if not relation.one_to_many and not relation.one_to_one:
            continue
        model: type[Model] = relation.related_model  # type: ignore[assignment]
        rows = model._default_manager.filter(**{relation.field.name: credential})
        usages.extend(f"{model._meta.verbose_name} {row}" for row in rows[:20])
    return usages


def delete_credential(credential: Credential) -> None:
    usages = credential_usages(credential)
    if usages:
        raise CredentialInUse(usages)
    with transaction.atomic():
        record_event(credential.owner, "credential.deleted", credential, actor=credential.owner)
        credential.delete()


def describe(credential: Credential) -> dict[str, Any]:
    """The exportable, secret-free view of a credential."""
    return {
        "id": str(credential.pk),
        "label": credential.label,
        "kind": credential.kind,
        "metadata": credential.metadata,
        "created_at": credential.created_at.isoformat(),
        "last_used_at": credential.last_used_at.isoformat() if credential.last_used_at else None,
    }
