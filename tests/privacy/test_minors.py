"""Reports of an account of someone under 18: the public form, mail, the staff decision."""

from __future__ import annotations

import pytest
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.privacy import minors
from mailpanel.privacy.models import MinorReport, MinorReportState
from tests.helpers import staff_client_with_2fa
from tests.privacy.estate import build_estate
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
FORM = "/privacy/report-a-minor/"


def report(user: User, **extra: str) -> dict[str, str]:
    return {"reported_email": user.email, "details": "Says at school she is 14.", **extra}


def admin_url(name: str, obj: MinorReport) -> str:
    return reverse(f"admin:privacy_minorreport_{name}", args=[obj.pk])


@pytest.fixture
def staff() -> Client:
    return staff_client_with_2fa("staff@example.test")


def test_anyone_can_report_an_account_and_staff_are_told(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    visitor = Client()
    page = visitor.get(FORM)
    assert page.status_code == 200
    assert b"Report an account of someone under 18" in page.content

    response = visitor.post(FORM, report(user, reporter_email="parent@example.test"))

    assert response.status_code == 302
    assert response["Location"] == reverse("privacy_minor_report_sent")
    assert visitor.get(response["Location"]).status_code == 200
    filed = MinorReport.objects.get()
    assert filed.user == user and filed.channel == "form"
    assert filed.reporter_email == "parent@example.test"
    assert filed.state == MinorReportState.OPEN
    (notice,) = sent_to(mailoutbox, STAFF)
    assert "under 18" in notice.subject
    assert reverse("admin:privacy_minorreport_change", args=[filed.pk]) in notice.body
    assert sent_to(mailoutbox, "parent@example.test") == []  # a stranger's address: no mail
    assert sent_to(mailoutbox, user.email) == []  # the account holder is not told


def test_a_report_without_an_address_is_refused() -> None:
    response = Client().post(FORM, {"reported_email": "not an address"})

    assert response.status_code == 400
    assert not MinorReport.objects.exists()


def test_the_form_takes_at_most_5_reports_an_hour_from_one_address(user: User) -> None:
    visitor = Client(REMOTE_ADDR="203.0.113.9")

    answers = [visitor.post(FORM, report(user)).status_code for _ in range(6)]

    assert answers == [302] * 5 + [429]
    assert MinorReport.objects.count() == 5
    assert Client(REMOTE_ADDR="203.0.113.10").post(FORM, report(user)).status_code == 302


def test_staff_confirm_and_the_account_goes_with_the_minors_data(
    user: User, staff: Client, mailoutbox: list[EmailMessage]
) -> None:
    build_estate(user, "minor", "MINORSECRET1")
    address = user.email
    Client().post(FORM, report(user, reporter_email="parent@example.test"))
    Client().post(FORM, report(user))  # a second report of the same account
    first = MinorReport.objects.filter(channel="form").order_by("received_at", "pk").first()
    assert first is not None
    assert (
        staff.get(reverse("admin:privacy_minorreport_change", args=[first.pk])).status_code == 200
    )
    assert staff.get(admin_url("confirm", first)).status_code == 200
    assert staff.post(admin_url("confirm", first), {"note": ""}).status_code == 400
    assert User.objects.filter(pk=user.pk).exists()  # no note, no decision

    response = staff.post(admin_url("confirm", first), {"note": "Her school confirmed it."})

    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert MinorReport.objects.count() == 3  # the two, and the estate's own
    for kept in MinorReport.objects.all():
        assert kept.state == MinorReportState.CONFIRMED
        assert kept.reported_email == "" and kept.details == "" and kept.user is None
        assert kept.decided_by is not None and kept.decided_by.email == "staff@example.test"
        assert kept.decided_at is not None and kept.decision_note == "Her school confirmed it."
    rows = [str(v) for v in MinorReport.objects.values_list()]
    assert not any(address in row for row in rows)
    assert "Your account has been deleted" in [m.subject for m in sent_to(mailoutbox, address)]
    page = staff.get(reverse("admin:privacy_minorreport_changelist")).content.decode()
    assert address not in page and "removed with the account" in page


def test_staff_dismiss_a_report_with_a_note_and_the_account_stays(
    user: User, staff: Client
) -> None:
    Client().post(FORM, report(user))
    filed = MinorReport.objects.get()

    staff.post(admin_url("dismiss", filed), {"note": "An adult: checked the ID."})

    filed.refresh_from_db()
    assert filed.state == MinorReportState.DISMISSED
    assert filed.decision_note == "An adult: checked the ID." and filed.decided_at is not None
    assert User.objects.filter(pk=user.pk, is_active=True).exists()
    again = staff.post(admin_url("confirm", filed), {"note": "changed my mind"}, follow=True)
    assert b"already dismissed" in again.content
    assert User.objects.filter(pk=user.pk, is_active=True).exists()


def test_a_report_of_no_account_cannot_be_confirmed(staff: Client) -> None:
    Client().post(FORM, {"reported_email": "nobody@example.test"})
    filed = MinorReport.objects.get()
    assert filed.user is None

    response = staff.post(admin_url("confirm", filed), {"note": "x"}, follow=True)

    assert b"No account has this address" in response.content
    filed.refresh_from_db()
    assert filed.state == MinorReportState.OPEN


def test_mail_about_a_minor_becomes_one_report_of_the_account_it_names(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    message = inbound(
        "parent@example.test",
        subject="Account of my son, under 18",
        text_body=f"My son (14) opened {user.email}. Please close it.",
    )
    assert minors.is_about_a_minor(message.subject)
    assert minors.is_about_a_minor("A MINOR using your service")
    assert not minors.is_about_a_minor("data request: export")

    minors.report_from_mail(message)
    minors.report_from_mail(message)  # routed twice

    filed = MinorReport.objects.get()
    assert filed.reported_email == user.email and filed.user == user
    assert filed.reporter_email == "parent@example.test" and filed.channel == "mail"
    assert filed.received_at == message.received_at
    assert len(sent_to(mailoutbox, STAFF)) == 1


def test_a_minor_writing_from_their_own_account_address_reports_that_account(
    user: User,
) -> None:
    minors.report_from_mail(inbound(user.email, "I am under 18", "Please delete my account"))

    assert MinorReport.objects.get().user == user
