"""The 30-day clock of a data request: the due date, the days left, the staff reminders.

The law gives one month; the policy says 30 business days. The stricter is used: 30
calendar days from receipt. The business-day date is shown beside it for comparison,
counted Monday to Friday with no holiday calendar (a public holiday counts as a working
day, which only makes that date earlier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from mailpanel.mail import send_templated
from mailpanel.privacy.models import DataRequest

log = structlog.get_logger(__name__)

CALENDAR_DAYS = 30
BUSINESS_DAYS = 30
REMINDER_DAYS = (20, 27)
DAY = timedelta(days=1)


def due_for(received_at: datetime) -> datetime:
    return received_at + timedelta(days=CALENDAR_DAYS)


def business_due_for(received_at: datetime) -> date:
    """The date 30 business days (Mon-Fri, no holidays) after the day of receipt."""
    day = timezone.localdate(received_at) if timezone.is_aware(received_at) else received_at.date()
    counted = 0
    while counted < BUSINESS_DAYS:
        day += DAY
        if day.weekday() < 5:
            counted += 1
    return day


def days_left(request: DataRequest, now: datetime | None = None) -> int:
    """Whole days until due (rounded up); negative once past due (overdue by at least 1)."""
    delta = request.due_at - (now or timezone.now())
    if delta >= timedelta(0):
        return math.ceil(delta / DAY)
    return -max(1, math.floor(-delta / DAY))


def day_of(request: DataRequest, now: datetime | None = None) -> int:
    """Which day after receipt it is: 0 on the day it came in, 20 twenty days later."""
    return math.floor(((now or timezone.now()) - request.received_at) / DAY)


@dataclass(frozen=True)
class Reminder:
    request: DataRequest
    day: int  # 20 or 27
    left: int


def not_closed() -> QuerySet[DataRequest]:
    return DataRequest.objects.filter(closed_at__isnull=True)


def due_reminders(now: datetime) -> list[Reminder]:
    """Requests that reached day 20 or day 27 and were not yet reminded of it.

    A request that reached day 27 with its day-20 reminder never sent (the task was down)
    gets the day-27 one alone: two reminders at once would say nothing more.
    """
    found: list[Reminder] = []
    day27 = not_closed().filter(received_at__lte=now - 27 * DAY, reminded_day27_at__isnull=True)
    day20 = not_closed().filter(
        received_at__lte=now - 20 * DAY,
        received_at__gt=now - 27 * DAY,
        reminded_day20_at__isnull=True,
    )
    for day, qs in ((27, day27), (20, day20)):
        found += [Reminder(r, day, days_left(r, now)) for r in qs.order_by("due_at")]
    return found


def remind_staff(now: datetime | None = None) -> int:
    """Mail staff once about each open request reaching day 20 and day 27; how many."""
    now = now or timezone.now()
    reminders = due_reminders(now)
    if not reminders:
        return 0
    if not settings.STAFF_NOTICES_TO:
        # Not marked: they go out the first hour after an address is configured.
        log.warning("data request reminders not sent", reason="STAFF_NOTICES_TO is empty")
        return 0
    base = settings.PUBLIC_URL.rstrip("/")
    rows = [
        {
            "reference": r.request.reference,
            "kind": r.request.get_kind_display(),
            "state": r.request.get_state_display(),
            "day": r.day,
            "left": r.left,
            "due_at": r.request.due_at,
            "url": base + reverse("admin:privacy_datarequest_change", args=[r.request.pk]),
        }
        for r in reminders
    ]
    subject = f"Data requests: {len(rows)} reaching their deadline"
    staff = list(settings.STAFF_NOTICES_TO)
    send_templated(staff, subject, "mail/request_reminder", {"rows": rows})
    for reminder in reminders:
        field = "reminded_day27_at" if reminder.day == 27 else "reminded_day20_at"
        changes = {field: now}
        if reminder.day == 27 and reminder.request.reminded_day20_at is None:
            changes["reminded_day20_at"] = now
        DataRequest.objects.filter(pk=reminder.request.pk).update(**changes)
    return len(reminders)
