"""The 30-day clock: due dates, the business-day comparison, reminders on day 20 and 27."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.privacy import requests
from mailpanel.privacy.models import DataRequest
from mailpanel.privacy.request_clock import business_due_for, days_left, remind_staff
from tests.helpers import staff_client_with_2fa
from tests.privacy.request_helpers import (  # noqa: F401  (fixtures)
    STAFF,
    empty_cache,
    inbound,
    sent_to,
    staff_notices,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_notices", "empty_cache"),
]
MONDAY = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=False)


def file_at(moment: datetime, user: User, kind: str = "export") -> DataRequest:
    with at(moment):
        return requests.file_in_panel(user, kind, "")


def test_the_due_date_is_30_calendar_days_and_30_business_days_are_shown_beside_it(
    user: User,
) -> None:
    req = file_at(MONDAY, user)

    assert req.due_at == datetime(2030, 2, 6, 9, 30, tzinfo=UTC)
    assert business_due_for(req.received_at) == date(2030, 2, 18)  # six working weeks
    assert business_due_for(datetime(2030, 1, 12, 23, 0, tzinfo=UTC)) == date(2030, 2, 22)
    with at(MONDAY + timedelta(days=1)):
        owner_client = Client()
        owner_client.force_login(user)
        page = owner_client.get(reverse("privacy_request", args=[req.pk])).content.decode()
        assert days_left(req) == 29
    assert "6 February 2030" in page
    assert "the policy's 30 business days would be 18 February 2030" in page
    assert "without a holiday calendar" in page


def test_staff_are_reminded_on_day_20_and_day_27_once_each(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    req = file_at(MONDAY, user)

    def reminders() -> list[EmailMessage]:
        return [m for m in sent_to(mailoutbox, STAFF) if req.reference in m.body]

    for days, expected in [(19.9, 0), (20, 1), (20.1, 1), (26.9, 1), (27, 2), (27.5, 2), (29, 2)]:
        with at(MONDAY + timedelta(days=days)):
            remind_staff()
        assert len(reminders()) == expected, f"day {days}"

    day20, day27 = reminders()
    assert "day 20" in day20.body and "10 days left" in day20.body
    assert "day 27" in day27.body and "3 days left" in day27.body
    assert "Export (portability)" in day20.body
    req.refresh_from_db()
    assert req.reminded_day20_at == MONDAY + timedelta(days=20)
    assert req.reminded_day27_at == MONDAY + timedelta(days=27)


def test_closed_requests_are_not_reminded_and_unverified_ones_are(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    closed = file_at(MONDAY, user)
    DataRequest.objects.filter(pk=closed.pk).update(state="refused", closed_at=MONDAY)
    with at(MONDAY):
        requests.file_from_mail(inbound("stranger@example.test"))
    waiting = DataRequest.objects.get(email="stranger@example.test")

    with at(MONDAY + timedelta(days=20)):
        assert remind_staff() == 1

    (mail,) = sent_to(mailoutbox, STAFF)
    assert waiting.reference in mail.body and closed.reference not in mail.body


def test_a_request_past_day_27_without_its_day_20_reminder_gets_one_reminder(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    file_at(MONDAY, user)

    with at(MONDAY + timedelta(days=28)):
        assert remind_staff() == 1
        assert remind_staff() == 0

    assert len(sent_to(mailoutbox, STAFF)) == 1


def test_the_reminders_run_every_hour() -> None:
    from huey.contrib.djhuey import HUEY

    def due_at(hour: int, minute: int) -> set[str]:
        return {t.name for t in HUEY.read_periodic(datetime(2030, 1, 7, hour, minute))}

    assert all("remind_staff_task" in due_at(hour, 7) for hour in range(24))
    assert "remind_staff_task" not in due_at(13, 8)


def test_on_day_31_the_staff_queue_shows_the_request_overdue_and_sorts_by_due_date(
    user: User, other_user: User
) -> None:
    now = datetime.now(UTC)
    late = file_at(now - timedelta(days=31), user)
    fresh = file_at(now - timedelta(days=2), other_user)
    older = file_at(now - timedelta(days=10), other_user, kind="access")
    staff = staff_client_with_2fa("staff@example.test")

    page = staff.get(reverse("admin:privacy_datarequest_changelist")).content.decode()

    assert 'class="request-overdue">overdue by 1 day<' in page
    assert "28 days left" in page and "20 days left" in page
    assert page.index(late.reference) < page.index(older.reference) < page.index(fresh.reference)
    assert "privacy/request_admin.css" in page
