from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.jobs.models import Job, JobState
from mailpanel.jobs.registry import KINDS, check_purpose


class ProcessingPaused(Exception):
    """The owner paused processing on their account (their right to restriction)."""

    message = (
        "Processing is paused on your account: the panel starts no job until you resume it "
        "on the Your data page."
    )

    def __init__(self) -> None:
        super().__init__(self.message)


def refuse_if_paused(owner: User, kind: str) -> None:
    if owner.processing_paused_at is not None and not KINDS[kind].runs_while_paused:
        raise ProcessingPaused()


def start_job(
    owner: User, kind: str, target: str = "", params: dict[str, Any] | None = None
) -> Job:
    """Create a job and queue it once the surrounding transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    check_purpose(kind, params or {})
    refuse_if_paused(owner, kind)
    with transaction.atomic():
        job = Job.objects.create(owner=owner, kind=kind, target=target, params=params or {})
        transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: Job) -> None:
    from mailpanel.jobs.tasks import run_job_task

    run_job_task(str(job.pk))


def cancel_job(job: Job) -> Job:
    """Queued jobs stop at once; running jobs stop at their next safe point."""
    now = timezone.now()
    Job.objects.filter(pk=job.pk, state=JobState.QUEUED).update(
        state=JobState.CANCELLED, finished_at=now, error="Cancelled by the owner."
    )
    Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job
