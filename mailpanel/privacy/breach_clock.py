"""The 72 hours of an incident, and the proof that its notices went out within them.

Computed on the server for the incident page: hours and minutes left, red from 12 hours
before the deadline and after it; once sending finished with every notice delivered, the
clock stops at the moment it finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from mailpanel.privacy.models import Incident, NoticeState

DEADLINE = timedelta(hours=72)
RED_WITHIN = timedelta(hours=12)


def hours_minutes(span: timedelta) -> str:
    minutes = int(abs(span).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class Clock:
    aware_at: datetime
    now: datetime
    finished_at: datetime | None = None  # the clock stops when sending finished

    @property
    def deadline(self) -> datetime:
        return self.aware_at + DEADLINE

    @property
    def left(self) -> timedelta:
        """Time left at ``now`` (or when sending finished); negative once past the deadline."""
        return self.deadline - (self.finished_at or self.now)

    @property
    def overdue(self) -> bool:
        return self.left <= timedelta(0)

    @property
    def red(self) -> bool:
        return self.overdue if self.finished_at else self.left <= RED_WITHIN

    @property
    def text(self) -> str:
        if self.finished_at:
            taken = hours_minutes(self.finished_at - self.aware_at)
            verdict = "after the 72 hours" if self.overdue else "within the 72 hours"
            return f"Sending finished {taken} after awareness: {verdict}"
        if self.overdue:
            return f"The 72 hours ended {hours_minutes(self.left)} ago"
        return f"{hours_minutes(self.left)} left"


@dataclass(frozen=True)
class Tally:
    """The notices of an incident by state, and when the first and last went out."""

    aware_at: datetime
    total: int
    counts: dict[str, int]
    first_sent_at: datetime | None
    last_sent_at: datetime | None

    @property
    def sent(self) -> int:
        return self.counts[NoticeState.SENT]

    @property
    def proof(self) -> str:
        """The sentence the operator shows: every notice sent, this long after awareness."""
        if not self.total:
            return "No notice has been created yet."
        if self.last_sent_at is None:
            return f"None of the {self.total} notices has been sent yet."
        last = self.last_sent_at - self.aware_at
        verdict = "within the 72 hours" if last < DEADLINE else "after the 72 hours"
        if self.sent == self.total:
            return (
                f"All {self.total} sent, the last {hours_minutes(last)} after awareness: {verdict}."
            )
        return (
            f"{self.sent} of {self.total} sent so far, the last {hours_minutes(last)} "
            f"after awareness."
        )


def tally(incident: Incident) -> Tally:
    """One query, however many notices."""
    by_state = {state.value: Count("pk", filter=Q(state=state.value)) for state in NoticeState}
    found = incident.notices.aggregate(
        total=Count("pk"), first=Min("sent_at"), last=Max("sent_at"), **by_state
    )
    counts = {state.value: int(found[state.value]) for state in NoticeState}
    return Tally(incident.aware_at, int(found["total"]), counts, found["first"], found["last"])


def clock(incident: Incident, tally: Tally, now: datetime | None = None) -> Clock:
    """The clock stops when sending finished with no notice failed; else it runs on."""
    stopped = incident.sending_finished_at if not tally.counts[NoticeState.FAILED] else None
    return Clock(incident.aware_at, now or timezone.now(), stopped)
