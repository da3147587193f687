"""Jobs that change a server take turns, across every worker process.

A lease on the server row (job id + expiry) is taken with one conditional UPDATE, so two
converges never write the same files or restart the same service at once. A job that
died leaves a lease that simply expires.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from uuid import UUID

from django.db.models import Q
from django.utils import timezone

from mailpanel.jobs.context import JobContext, JobFailed
from mailpanel.servers.models import Server

LEASE = timedelta(minutes=30)
WAIT_SECONDS = 600.0
POLL_SECONDS = 0.5


def _free_for(job_id: UUID) -> Q:
    """Nobody holds the lease, it expired, or ``job_id`` holds it."""
    return (
        Q(changing_job__isnull=True) | Q(changing_until__lt=timezone.now()) | Q(changing_job=job_id)
    )


def try_take(server_id: UUID, job_id: UUID) -> bool:
    return bool(
        Server.objects.filter(_free_for(job_id), pk=server_id).update(
            changing_job=job_id, changing_until=timezone.now() + LEASE
        )
    )


def release(server_id: UUID, job_id: UUID) -> None:
    Server.objects.filter(pk=server_id, changing_job=job_id).update(
        changing_job=None, changing_until=None
    )


def is_free(server_id: UUID, job_id: UUID) -> bool:
    return Server.objects.filter(_free_for(job_id), pk=server_id).exists()


def _wait_until(ready: Callable[[], bool], ctx: JobContext) -> None:
    if ready():
        return
    ctx.log("Another job is changing this server; waiting for it to finish.")
    deadline = time.monotonic() + WAIT_SECONDS
    while not ready():
        if time.monotonic() > deadline:
            raise JobFailed("Another job kept this server busy for 10 minutes; try again.")
        ctx.check_cancelled()
        time.sleep(POLL_SECONDS)


@contextmanager
def changing(server: Server, ctx: JobContext) -> Iterator[None]:
    """Wait for our turn to change ``server`` (logging why), then hold it."""
    job_id = ctx.job.pk
    _wait_until(lambda: try_take(server.pk, job_id), ctx)
    try:
        yield
    finally:
        release(server.pk, job_id)


def after_changes(server: Server, ctx: JobContext) -> None:
    """Wait until no other job is changing ``server``, without holding it (for a job that
    only reads, or sends, and must see what the change before it made)."""
    _wait_until(lambda: is_free(server.pk, ctx.job.pk), ctx)
