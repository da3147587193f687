"""The owner's timeline: their activity events and their jobs, one list in time order.

Both tables are projected to the same columns and joined with UNION ALL, so a page costs a
count and one slice whatever the history's length, and the CSV streams the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from django.db.models import (
    BigIntegerField,
    CharField,
    F,
    GenericIPAddressField,
    JSONField,
    QuerySet,
    UUIDField,
    Value,
)

from mailpanel.activity.browsers import browser_summary
from mailpanel.activity.models import ActivityEvent
from mailpanel.activity.phrases import sentence
from mailpanel.activity.signins import SIGN_IN_ACTIONS
from mailpanel.jobs.models import Job, JobState
from mailpanel.jobs.registry import title_of

SIGN_INS, ACTIONS, JOBS = "sign-ins", "actions", "jobs"
KINDS = {"": "All", SIGN_INS: "Sign-ins", ACTIONS: "Actions", JOBS: "Jobs"}
# Newest first; the ids break ties between rows of one instant, so pages never overlap.
ORDER = ("-at", "-event_pk", "-job_pk")


class Row(TypedDict):
    """One row of the UNION: the columns of _events() and _jobs(), in their order."""

    at: datetime
    source: str  # "event" or "job"
    event_pk: int | None
    job_pk: UUID | None
    verb: str  # the event's action, the job's kind
    label: str  # the event's object label, the job's target
    note: str
    ip_address: str | None
    agent: str
    job_state: str
    job_params: Any


def _events(owner: Any) -> QuerySet[ActivityEvent, Row]:
    # Every column is an expression with the same name and type as in _jobs(): UNION
    # matches columns by position, and the first query's types decode both.
    return ActivityEvent.objects.filter(owner=owner).values(
        at=F("created_at"),
        source=Value("event", output_field=CharField()),
        event_pk=F("id"),
        job_pk=Value(None, output_field=UUIDField()),
        verb=F("action"),
        label=F("object_label"),
        note=F("message"),
        ip_address=F("ip"),
        agent=F("user_agent"),
        job_state=Value("", output_field=CharField()),
        job_params=Value(None, output_field=JSONField()),
    )


def _jobs(owner: Any) -> QuerySet[Job, Row]:
    return Job.objects.filter(owner=owner).values(
        at=F("created_at"),
        source=Value("job", output_field=CharField()),
        event_pk=Value(None, output_field=BigIntegerField()),
        job_pk=F("id"),
        verb=F("kind"),
        label=F("target"),
        note=Value("", output_field=CharField()),
        ip_address=Value(None, output_field=GenericIPAddressField()),
        agent=Value("", output_field=CharField()),
        job_state=F("state"),
        job_params=F("params"),
    )


def timeline(
    owner: Any, kind: str = "", start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Any, Row]:
    """The owner's rows of ``kind`` (a key of KINDS) created in [start, end), newest first."""
    events, jobs = _events(owner), _jobs(owner)
    if start is not None:
        events, jobs = events.filter(created_at__gte=start), jobs.filter(created_at__gte=start)
    if end is not None:
        events, jobs = events.filter(created_at__lt=end), jobs.filter(created_at__lt=end)
    if kind == SIGN_INS:
        return events.filter(action__in=SIGN_IN_ACTIONS).order_by(*ORDER)
    if kind == ACTIONS:
        return events.exclude(action__in=SIGN_IN_ACTIONS).order_by(*ORDER)
    if kind == JOBS:
        return jobs.order_by(*ORDER)
    # The models' default orderings would reach the parts of the UNION, where SQLite
    # refuses an ORDER BY: the parts are unordered, the whole is ordered.
    return events.order_by().union(jobs.order_by(), all=True).order_by(*ORDER)


@dataclass(frozen=True)
class Entry:
    """One row of the timeline, as the page and the CSV show it."""

    at: datetime
    kind: str  # "Sign-in", "Action" or "Job"
    action: str
    object: str
    message: str
    ip: str
    browser: str
    job_id: UUID | None
    job_title: str
    job_state: str

    @property
    def what(self) -> str:
        """The What column for an action: a sentence with its object and message."""
        return sentence(self.action, self.object, self.message)

    @property
    def job_state_label(self) -> str:
        return JobState(self.job_state).label if self.job_state in JobState.values else ""


def entry_of(row: Row) -> Entry:
    is_job = row["source"] == "job"
    kind = "Job" if is_job else "Sign-in" if row["verb"] in SIGN_IN_ACTIONS else "Action"
    return Entry(
        at=row["at"],
        kind=kind,
        action=row["verb"],
        object=row["label"],
        message=row["note"],
        ip=row["ip_address"] or "",
        browser=browser_summary(row["agent"] or ""),
        job_id=_uuid(row["job_pk"]) if is_job else None,
        job_title=_job_title(row) if is_job else "",
        job_state=row["job_state"] if is_job else "",
    )


def _job_title(row: Row) -> str:
    params = row["job_params"]
    return title_of(row["verb"], params if isinstance(params, dict) else None)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
