"""Huey glue: routing travels through the queue as a message id, never as a pickle."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from mailpanel.inbound.routing import route_message, unrouted


@db_task(retries=3, retry_delay=60)  # type: ignore[untyped-decorator]
def route_inbound_task(message_id: str) -> None:
    route_message(message_id)


@db_periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def route_unrouted_task() -> None:
    """The queue may lose a task (a crash between commit and enqueue): route what waits."""
    for pk in unrouted(older_than=timedelta(minutes=5)):
        route_message(pk)
