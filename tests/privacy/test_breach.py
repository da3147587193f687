"""Breach notices: the right people told, over real SMTP, each once, within the 72 hours."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from lab.smtp_store import header, messages
from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.privacy.breach import (
    ACTIVE_BETWEEN,
    ALL,
    CREDENTIAL_KIND,
    EMAILS,
    count_recipients,
    retry_unfinished,
    send_notices,
    sending_lock,
    start_sending,
)
from mailpanel.privacy.models import BreachNotice, Incident, NoticeState
from mailpanel.vault.models import Credential
from tests.factories import UserFactory
from tests.helpers import drain, staff_client_with_2fa

pytestmark = pytest.mark.django_db(transaction=True)
HOST = "127.0.0.1"
STAFF = "staff@example.test"
AWARE = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def staff() -> Client:
    return staff_client_with_2fa(STAFF)


def holding(user: User, *kinds: str) -> User:
    for kind in kinds:
        credential = Credential(owner=user, kind=kind, label=f"{kind} of {user.email}")
        credential.seal({"token": "T0KEN-NOT-REAL-0000", "private_key": "x", "passphrase": ""})
        credential.save()
    return user


def incident(audience: dict[str, Any], aware_at: datetime | None = None) -> Incident:
    return Incident.objects.create(
        title="Token store read",
        aware_at=aware_at or timezone.now() - timedelta(hours=2),
        what_happened="A backup of the token store was read by someone not us.",
        categories=["credentials", "account"],
        audience=audience,
        notice_subject="A security incident concerning your account",
        notice_text="We have revoked every token. Please create new API tokens.",
    )


def recipients_at(mx: Path) -> list[str]:
    return sorted(rcpt for message in messages(mx) for rcpt in message["rcpt_to"])


def page_of(client: Client, found: Incident) -> str:
    response = client.get(reverse("admin:privacy_incident_change", args=[found.pk]))
    assert response.status_code == 200
    return response.content.decode()


def form(**values: Any) -> dict[str, Any]:
    aware_at = timezone.now() - timedelta(hours=2)
    return {
        "title": "Token store read",
        "aware_at_0": f"{aware_at:%Y-%m-%d}",
        "aware_at_1": f"{aware_at:%H:%M:%S}",
        "what_happened": "A backup of the token store was read by someone not us.",
        "categories": ["credentials"],
        "audience_kind": ALL,
        "credential_kind": "",
        "active_from_0": "",
        "active_from_1": "",
        "active_to_0": "",
        "active_to_1": "",
        "emails": "",
        "notice_subject": "A security incident concerning your account",
        "notice_text": "We have revoked every token. Please create new API tokens.",
        "_save": "Save",
        **values,
    }


def test_an_incident_for_cloudflare_holders_notifies_exactly_them_within_the_72_hours(
    staff: Client, mx: Path, queue: Huey
) -> None:
    cloudflare = holding(UserFactory.create(email="cf@example.test"), "cloudflare")
    holding(UserFactory.create(email="ssh@example.test"), "ssh_key")
    both = holding(UserFactory.create(email="both@example.test"), "cloudflare", "ssh_key")

    added = staff.post(
        reverse("admin:privacy_incident_add"),
        form(audience_kind=CREDENTIAL_KIND, credential_kind="cloudflare"),
    )
    assert added.status_code == 302, added.content.decode()
    found = Incident.objects.get()
    assert found.audience == {"kind": CREDENTIAL_KIND, "credential_kind": "cloudflare"}
    assert 'id="breach-recipients">2<' in page_of(staff, found)

    sent = staff.post(reverse("admin:privacy_incident_send", args=[found.pk]), {"confirm": "yes"})
    assert sent.status_code == 302
    drain(queue)

    assert recipients_at(mx) == sorted([cloudflare.email, both.email])
    message = messages(mx)[0]
    assert header(message, "Subject") == "A security incident concerning your account"
    assert header(message, "Auto-Submitted") == "auto-generated"
    assert header(message, "List-Id") == "<security.mailpanel.localhost>"
    assert header(message, "Reply-To") == "privacy@mailpanel.localhost"
    assert "panel@mailpanel.localhost" in (header(message, "From") or "")
    body = message["raw"].decode()
    assert "We have revoked every token" in body
    assert "Credentials" in body and "privacy@mailpanel.localhost" in body

    found.refresh_from_db()
    notices = list(found.notices.order_by("email"))
    assert [n.email for n in notices] == [both.email, cloudflare.email]
    assert [n.user_id for n in notices] == [both.pk, cloudflare.pk]
    for notice in notices:
        assert notice.state == NoticeState.SENT and notice.message_id
        assert notice.sent_at is not None
        assert found.aware_at <= notice.sent_at <= found.aware_at + timedelta(hours=72)
    assert found.sending_finished_at is not None

    page = page_of(staff, found)
    for notice in notices:
        assert notice.sent_at is not None
        assert f"{notice.sent_at:%Y-%m-%d %H:%M:%S}" in page
    assert "Sending finished" in page and "within the 72 hours" in page
    assert "All 2 sent" in page

    listing = staff.get(reverse("admin:privacy_incident_csv", args=[found.pk]))
    rows = list(csv.reader(io.StringIO(listing.getvalue().decode())))
    assert rows[0] == ["email", "state", "sent_at", "bounced_at", "reason"]
    assert sorted(row[0] for row in rows[1:]) == sorted([cloudflare.email, both.email])
    assert all(row[1] == "sent" and row[2].endswith("Z") for row in rows[1:])
    assert all(row[3:] == ["", ""] for row in rows[1:])


def test_an_activity_window_selects_those_active_in_it() -> None:
    inside, before, idle = (UserFactory.create() for _ in range(3))
    for owner, at in ((inside, AWARE - timedelta(days=2)), (before, AWARE - timedelta(days=9))):
        event = ActivityEvent.objects.create(owner=owner, action="server.added")
        ActivityEvent.objects.filter(pk=event.pk).update(created_at=at)
    window = {
        "kind": ACTIVE_BETWEEN,
        "from": (AWARE - timedelta(days=7)).isoformat(),
        "to": AWARE.isoformat(),
    }
    found = incident(window)

    assert count_recipients(window) == 1
    start_sending(found)
    assert list(found.notices.values_list("email", flat=True)) == [inside.email]
    assert idle.breach_notices.count() == 0


def test_an_email_list_with_a_bad_address_is_refused_and_nothing_is_created(
    staff: Client,
) -> None:
    pasted = "known@example.test\nnot-an-address, stranger@elsewhere.test"

    refused = staff.post(
        reverse("admin:privacy_incident_add"), form(audience_kind=EMAILS, emails=pasted)
    )

    assert refused.status_code == 200
    text = refused.content.decode()
    assert "1 of these are not email addresses: &#x27;not-an-address&#x27;" in text
    assert "Nothing was saved" in text
    assert Incident.objects.count() == 0
    assert BreachNotice.objects.count() == 0


def test_an_email_list_notifies_every_address_known_or_not() -> None:
    known = UserFactory.create(email="known@example.test")
    found = incident({"kind": EMAILS, "emails": ["known@example.test", "stranger@else.test"]})

    start_sending(found)

    notices = {n.email: n.user_id for n in found.notices.all()}
    assert notices == {"known@example.test": known.pk, "stranger@else.test": None}


def test_an_uploaded_list_is_read_and_each_address_checked(staff: Client) -> None:
    upload = io.BytesIO(b"email\nA@Example.test\nb@example.test\na@example.test\n")
    upload.name = "affected.csv"

    added = staff.post(
        reverse("admin:privacy_incident_add"), form(audience_kind=EMAILS, emails_file=upload)
    )

    assert added.status_code == 302, added.content.decode()
    assert Incident.objects.get().audience == {
        "kind": EMAILS,
        "emails": ["a@example.test", "b@example.test"],
    }


def test_all_users_means_the_active_ones_not_those_deactivated_or_being_deleted() -> None:
    active = UserFactory.create()
    UserFactory.create(is_active=False)
    UserFactory.create(is_active=False, deletion_requested_at=timezone.now())
    UserFactory.create(deletion_requested_at=timezone.now())
    found = incident({"kind": ALL})

    assert count_recipients(found.audience) == 1
    assert start_sending(found) == 1
    assert start_sending(found) == 0  # a rerun adds no one twice
    assert list(found.notices.values_list("user_id", flat=True)) == [active.pk]


def test_aware_at_in_the_future_is_refused(staff: Client) -> None:
    tomorrow = timezone.now() + timedelta(days=1)
    refused = staff.post(
        reverse("admin:privacy_incident_add"),
        form(aware_at_0=f"{tomorrow:%Y-%m-%d}", aware_at_1=f"{tomorrow:%H:%M:%S}"),
    )
    assert refused.status_code == 200
    assert "cannot be in the future" in refused.content.decode()
    assert Incident.objects.count() == 0


def test_a_run_cut_short_then_run_again_mails_each_address_exactly_once(mx: Path) -> None:
    users = [UserFactory.create() for _ in range(5)]
    found = incident({"kind": ALL})
    start_sending(found)

    assert send_notices(found.pk, batch_size=2, max_batches=1) == 2  # the worker dies here
    assert found.notices.filter(state=NoticeState.SENT).count() == 2
    found.refresh_from_db()
    assert found.sending_finished_at is None

    assert send_notices(found.pk, batch_size=2) == 3
    assert send_notices(found.pk, batch_size=2) == 0
    assert recipients_at(mx) == sorted(u.email for u in users)
    found.refresh_from_db()
    assert found.sending_finished_at is not None


def test_an_smtp_failure_marks_failed_and_a_later_run_sends_it(mx: Path, settings: Any) -> None:
    user = UserFactory.create()
    found = incident({"kind": ALL})
    start_sending(found)
    port = settings.EMAIL_PORT

    settings.EMAIL_PORT = 9  # nothing listens there: refused
    assert send_notices(found.pk) == 0
    notice = BreachNotice.objects.get(incident=found)
    assert notice.state == NoticeState.FAILED and notice.attempts == 1
    assert "Connection refused" in notice.error or "Errno" in notice.error
    found.refresh_from_db()
    assert found.sending_finished_at is None  # retriable: not finished

    settings.EMAIL_PORT = port
    assert retry_unfinished() == 1  # what the periodic task runs
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT and notice.attempts == 2 and notice.error == ""
    assert recipients_at(mx) == [user.email]


def test_after_three_failed_attempts_a_notice_is_given_up_and_the_sending_finishes(
    settings: Any,
) -> None:
    UserFactory.create()
    found = incident({"kind": ALL})
    start_sending(found)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = HOST, 9
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    for _ in range(4):
        retry_unfinished()

    notice = BreachNotice.objects.get(incident=found)
    assert notice.state == NoticeState.FAILED and notice.attempts == 3
    found.refresh_from_db()
    assert found.sending_finished_at is not None


def test_the_clock_turns_red_twelve_hours_before_the_deadline_and_stays_red_past_it(
    staff: Client,
) -> None:
    found = incident({"kind": ALL}, aware_at=AWARE)

    with time_machine.travel(AWARE + timedelta(hours=59, minutes=30), tick=False):
        page = page_of(staff, found)
    assert "12 h 30 min left" in page and 'data-red="false"' in page

    with time_machine.travel(AWARE + timedelta(hours=60, minutes=1), tick=False):
        page = page_of(staff, found)
    assert "11 h 59 min left" in page and 'data-red="true"' in page
    assert 'id="breach-clock" class="errornote"' in page

    with time_machine.travel(AWARE + timedelta(hours=75), tick=False):
        page = page_of(staff, found)
    assert "The 72 hours ended 3 h 00 min ago" in page and 'data-red="true"' in page


def test_a_test_send_goes_only_to_the_staff_member(staff: Client, mx: Path) -> None:
    UserFactory.create(email="affected@example.test")
    found = incident({"kind": ALL})

    response = staff.post(reverse("admin:privacy_incident_send_test", args=[found.pk]))

    assert response.status_code == 302
    assert recipients_at(mx) == [STAFF]
    assert (header(messages(mx)[0], "Subject") or "").startswith("[TEST] ")
    found.refresh_from_db()
    assert found.test_sent_at is not None and found.sending_started_at is None
    assert BreachNotice.objects.count() == 0


def test_sending_needs_the_confirmation_box(staff: Client, queue: Huey) -> None:
    UserFactory.create()
    found = incident({"kind": ALL})

    staff.post(reverse("admin:privacy_incident_send", args=[found.pk]))

    found.refresh_from_db()
    assert found.sending_started_at is None and BreachNotice.objects.count() == 0


def test_the_incident_page_costs_the_same_queries_for_1_notice_and_150(staff: Client) -> None:
    one, many = incident({"kind": ALL}), incident({"kind": ALL})
    BreachNotice.objects.create(incident=one, email="one@example.test")
    BreachNotice.objects.bulk_create(
        BreachNotice(incident=many, email=f"n{i}@example.test") for i in range(150)
    )
    page_of(staff, one)  # warm the session and the caches

    counts = []
    for found in (one, many):
        with CaptureQueriesContext(connection) as queries:
            page_of(staff, found)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_second_run_while_one_is_sending_sends_nothing(mx: Path) -> None:
    UserFactory.create()
    found = incident({"kind": ALL})
    start_sending(found)
    holding_lock, release = threading.Event(), threading.Event()

    def other_run() -> None:  # another worker, with a database connection of its own
        try:
            with sending_lock(found.pk) as held:
                assert held
                holding_lock.set()
                release.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=other_run)
    other.start()
    assert holding_lock.wait(10)
    try:
        assert send_notices(found.pk) == 0
    finally:
        release.set()
        other.join()
    assert recipients_at(mx) == []
    assert send_notices(found.pk) == 1  # released: the next run sends


def test_junk_on_the_incident_routes_is_never_a_server_error(staff: Client) -> None:
    found = incident({"kind": CREDENTIAL_KIND})  # incomplete: no kind of credential
    staff.raise_request_exception = False
    routes = ("send_test", "send", "retry", "csv", "change")
    answers = {}
    for pk in (found.pk, "00000000-0000-0000-0000-000000000000"):
        for route in routes:
            url = reverse(f"admin:privacy_incident_{route}", args=[pk])
            for method in (staff.get, staff.post):
                junk = {"confirm": "yes", "page": "-1x", "audience_kind": "nope"}
                answers[(route, str(pk), method.__name__)] = method(f"{url}?page=x", junk)
    assert {key: r.status_code for key, r in answers.items() if r.status_code >= 500} == {}
    assert BreachNotice.objects.count() == 0
