"""Runs one job in a worker: claim it, run its kind, record how it ended."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import connection
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.jobs.actions import ProcessingPaused
from mailpanel.jobs.context import JobCancelled, JobContext, JobFailed
from mailpanel.jobs.models import Job, JobState, LogLevel
from mailpanel.jobs.registry import KINDS

log = structlog.get_logger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def run_job(job_id: str) -> None:
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING, started_at=now, heartbeat_at=now, worker=WORKER_ID
    )
    if not claimed:
        # Already taken, cancelled while queued, or deleted: nothing to do.
        return
    job = Job.objects.get(pk=job_id)
    with _heartbeat(job_id):
        _run_claimed(job)


def _owner_paused(job: Job) -> bool:
    return User.objects.filter(pk=job.owner_id, processing_paused_at__isnull=False).exists()


def _run_claimed(job: Job) -> None:
    kind = KINDS.get(job.kind)
    ctx = JobContext(job)
    if kind is None:
        _finish(job, JobState.FAILED, f"This panel does not know the job kind {job.kind!r}.")
        return
    if not kind.runs_while_paused and _owner_paused(job):
        # Queued before the owner paused processing: it does not run now.
        _log_quietly(ctx, ProcessingPaused.message, LogLevel.WARNING)
        _finish(job, JobState.CANCELLED, ProcessingPaused.message)
        return
    try:
        kind.run(ctx)
    except JobCancelled:
        _log_quietly(ctx, "Cancelled by the owner.", LogLevel.WARNING)
        _finish(job, JobState.CANCELLED, "Cancelled by the owner.")
    except JobFailed as exc:
        message = ctx.redact(str(exc))
        _log_quietly(ctx, message, LogLevel.ERROR)
        _finish(job, JobState.FAILED, message)
    except Exception as exc:
        log.exception("job crashed", job_id=str(job.pk), kind=job.kind)
        message = ctx.redact(f"Unexpected error ({type(exc).__name__}): {exc}")
        _log_quietly(ctx, message, LogLevel.ERROR)
        _finish(job, JobState.FAILED, message)
    else:
        _finish(job, JobState.SUCCEEDED, "")


def _log_quietly(ctx: JobContext, text: str, level: str) -> None:
    ctx._cancel_checked = float("inf")  # the final line must not raise JobCancelled again
    ctx.log(text, level)


def _finish(job: Job, state: str, error: str) -> None:
    fields: dict[str, object] = {"state": state, "finished_at": timezone.now(), "error": error}
    if state == JobState.SUCCEEDED:
        fields["progress"] = 100
    # Only a job still marked running is ours to finish (the reaper may have acted).
    Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(**fields)


@contextmanager
def _heartbeat(job_id: str) -> Iterator[None]:
    """Touch heartbeat_at while the job runs, so a dead worker's jobs can be told apart."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def reap_dead_jobs(this_worker_starting: bool = False) -> int:
    """Mark running jobs whose worker died as failed. Returns how many were reaped."""
    stale_before = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    stale = Job.objects.filter(state=JobState.RUNNING, heartbeat_at__lt=stale_before)
    count = stale.update(
        state=JobState.FAILED,
        finished_at=timezone.now(),
        error="The worker running this job stopped before it finished; start the job again.",
    )
    if this_worker_starting:
        count += _reap_own_host_dead_pids()
    if count:
        log.warning("reaped jobs of dead workers", count=count)
    return count


def _reap_own_host_dead_pids() -> int:
    """On start, jobs of this host whose worker process is gone need not wait to go stale."""
    host = socket.gethostname()
    dead: list[str] = []
    for job_id, worker in Job.objects.filter(
        state=JobState.RUNNING, worker__startswith=f"{host}:"
    ).values_list("pk", "worker"):
        pid = int(worker.rsplit(":", 1)[1])
        if pid != os.getpid() and not _pid_alive(pid):
            dead.append(str(job_id))
    return Job.objects.filter(pk__in=dead, state=JobState.RUNNING).update(
        state=JobState.FAILED,
        finished_at=timezone.now(),
        error="The worker running this job stopped before it finished; start the job again.",
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
