"""Huey glue for policy notices: the mailing of a material change; every hour, the mailings
left unfinished (a worker died, the server was down) and the acceptances come due."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from mailpanel.privacy.policy import record_due_acceptances, resume_notices, send_notices


@db_task()  # type: ignore[untyped-decorator]
def send_policy_notices_task(policy_id: int) -> None:
    send_notices(policy_id)


@db_periodic_task(crontab(minute="23"))  # type: ignore[untyped-decorator]
def policy_notices_hourly_task() -> None:
    resume_notices()
    record_due_acceptances()
