"""The one way a secret leaves the vault: for a job of the credential's own owner."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from mailpanel.activity.actions import record_event
from mailpanel.jobs.context import JobContext
from mailpanel.vault.models import Credential
from mailpanel.vault.redaction import register_secrets_in


class CredentialAccessDenied(Exception):
    pass


def open_for_job(credential: Credential, ctx: JobContext) -> dict[str, Any]:
    """Decrypt ``credential`` for the running job ``ctx``; audited, and redacted from logs."""
    if credential.owner_id != ctx.job.owner_id:
        raise CredentialAccessDenied("a credential is only ever used for its owner's own jobs")
    payload = credential.unseal()
    register_secrets_in(payload)
    ctx.add_secrets(*[v for v in payload.values() if isinstance(v, str)])
    Credential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())
    record_event(
        credential.owner,
        "credential.used",
        credential,
        job=ctx.job,
        message=f"Decrypted for job {ctx.job.kind} ({ctx.job.pk})",
    )
    return payload
