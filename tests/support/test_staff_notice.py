"""Staff hear of every message that comes in (form, mail, the thread page) by a mail that
links to the thread and repeats none of its words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.inbound.routing import route_message
from mailpanel.support.actions import submit_contact
from mailpanel.support.models import Thread
from tests.support.conftest import received

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]
STAFF = ["support-team@example.test", "second@example.test"]
CANARY = "CANARY-7f3a-words-the-user-wrote"


@pytest.fixture(autouse=True)
def staff_addresses(settings: Any) -> None:
    settings.STAFF_NOTICES_TO = STAFF


def staff_mail() -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.to == STAFF]


def assert_told(thread: Thread, origin: str) -> None:
    (notice,) = staff_mail()
    assert notice.subject == f"[{thread.reference}] New support message"
    text = str(notice.body)
    assert origin in text
    assert reverse("admin:support_thread_change", args=[thread.pk]) in text
    html = notice.alternatives[0].content  # type: ignore[attr-defined]
    for part in (text, str(html), notice.subject):
        assert CANARY not in part
        assert thread.email not in part and thread.subject not in part


def test_a_reply_on_the_thread_page_tells_staff(
    user: User, owner_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    message = received(user.email, "DKIM fails", "Since Tuesday.")
    with django_capture_on_commit_callbacks(execute=True):
        route_message(message.pk)
    thread = Thread.objects.get(owner=user)
    mail.outbox.clear()
    url = reverse("support_thread", args=[thread.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(url, {"message": CANARY}).status_code == 302
    assert_told(thread, "on the thread's page")
    assert "an account of the panel" in str(staff_mail()[0].body)


def test_mail_to_support_and_a_reply_by_mail_each_tell_staff(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    first = received("stranger@example.org", f"Help {CANARY}", CANARY)
    with django_capture_on_commit_callbacks(execute=True):
        route_message(first.pk)
    thread = Thread.objects.get()
    assert_told(thread, "by mail")
    assert "no account of the panel" in str(staff_mail()[0].body)
    mail.outbox.clear()
    reply = received(
        "stranger@example.org",
        f"Re: [{thread.reference}] Help",
        CANARY,
        in_reply_to=first.message_id,
    )
    with django_capture_on_commit_callbacks(execute=True):
        route_message(reply.pk)
    assert_told(thread, "by mail")


def test_the_contact_form_tells_staff(django_capture_on_commit_callbacks: Capture) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        thread = submit_contact(
            email="ann@example.org", subject="Pricing", body=CANARY, owner=None, ip="192.0.2.7"
        )
    assert_told(thread, "from the contact form")


def test_no_staff_addresses_no_mail_and_nothing_fails(
    settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    settings.STAFF_NOTICES_TO = []
    with django_capture_on_commit_callbacks(execute=True):
        thread = submit_contact(
            email="ann@example.org", subject="Pricing", body=CANARY, owner=None, ip="192.0.2.7"
        )
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]  # the acknowledgement only
    assert thread.messages.count() == 2
