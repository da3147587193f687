"""Huey glue for privacy work: deletion runs as a task, the retention purge every night,
the data-request reminders every hour."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from mailpanel.privacy.deletion import run_deletion
from mailpanel.privacy.request_clock import remind_staff
from mailpanel.privacy.retention import purge


@db_task()  # type: ignore[untyped-decorator]
def delete_account_task(user_id: int) -> None:
    run_deletion(user_id)


@db_periodic_task(crontab(minute="17", hour="3"))  # type: ignore[untyped-decorator]
def retention_purge_task() -> None:
    purge()


@db_periodic_task(crontab(minute="7"))  # type: ignore[untyped-decorator]
def remind_staff_task() -> None:
    """Hourly: staff hear of each open data request on its day 20 and day 27, once each."""
    remind_staff()
