"""The one way a secret leaves the vault: for a job of the credential's own owner."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from mailpanel.activity.actions import record_event
from mailpanel.jobs.context import JobContext
from mailpanel.vault.models import Credential
from mailpanel.vault.redaction import register_secrets_in
from mailpanel.vault.sealed import Sealed


class CredentialAccessDenied(Exception):
    pass


def open_for_job(sealed: Sealed, ctx: JobContext) -> dict[str, Any]:
    """Decrypt a credential (or any sealed secret) for the running job ``ctx`` of its owner.

    Every opening is audited (who, what, which job, never the value) and every value is
    registered for redaction, so it cannot reach a log line.
    """
    if getattr(sealed, sealed.owner_field) != ctx.job.owner_id:
        raise CredentialAccessDenied("a secret is only ever used for its owner's own jobs")
    payload = sealed.unseal()
    register_secrets_in(payload)
    ctx.add_secrets(*[v for v in payload.values() if isinstance(v, str)])
    if isinstance(sealed, Credential):
        Credential.objects.filter(pk=sealed.pk).update(last_used_at=timezone.now())
    record_event(
        ctx.job.owner,
        "secret.used",
        sealed,
        job=ctx.job,
        message=f"Decrypted for job {ctx.job.kind} ({ctx.job.pk})",
    )
    return payload


def open_for_owner(credential: Credential, user: Any, purpose: str) -> dict[str, Any]:
    """Decrypt ``credential`` for a request its own owner made (e.g. an assistant answer).

    Audited like a job's use: the purpose is recorded, never the value, and every
    string of the payload is registered so no log line can carry it.
    """
    if user is None or credential.owner_id != getattr(user, "pk", None):
        raise CredentialAccessDenied("a credential is only ever used for its owner's own requests")
    payload = credential.unseal()
    register_secrets_in(payload)
    Credential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())
    record_event(
        user,  # the owner, checked above; saves a query for credential.owner
        "credential.used",
        credential,
        actor=user,
        message=f"Decrypted for {purpose}",
    )
    return payload
