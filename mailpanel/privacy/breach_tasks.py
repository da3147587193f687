"""Huey glue for breach notices: the sending task, and a retry every minute until done."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from mailpanel.privacy.breach import retry_unfinished, send_notices


@db_task()  # type: ignore[untyped-decorator]
def send_breach_notices(incident_id: str) -> int:
    return send_notices(incident_id)


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def retry_breach_notices() -> int:
    return retry_unfinished()
