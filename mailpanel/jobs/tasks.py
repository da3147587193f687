"""Huey glue: jobs travel through the queue as an id, never as a pickle of objects."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from mailpanel.jobs.runner import reap_dead_jobs, run_job


@db_task()  # type: ignore[untyped-decorator]
def run_job_task(job_id: str) -> None:
    run_job(job_id)


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def reap_dead_jobs_task() -> None:
    reap_dead_jobs()


@HUEY.on_startup()  # type: ignore[untyped-decorator]
def reap_on_worker_start() -> None:
    reap_dead_jobs(this_worker_starting=True)
