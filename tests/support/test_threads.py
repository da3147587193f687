"""Staff answer from the admin by email, threaded; the owner reads it on their thread page,
and nobody else sees the thread anywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from mailpanel.accounts.models import User
from mailpanel.inbound.routing import route_message
from mailpanel.support.actions import submit_contact
from mailpanel.support.models import Delivery, Direction, SupportMessage, Thread, ThreadState
from tests.helpers import staff_client_with_2fa
from tests.support.conftest import received

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]


@pytest.fixture
def thread(user: User, django_capture_on_commit_callbacks: Capture) -> Thread:
    """The owner wrote to support by mail: a thread in their account, acknowledged."""
    message = received(user.email, "DKIM fails <b>sometimes</b>", "Since Tuesday & today.")
    with django_capture_on_commit_callbacks(execute=True):
        route_message(message.pk)
    mail.outbox.clear()
    return Thread.objects.get(owner=user)


@pytest.fixture
def staff() -> Client:
    return staff_client_with_2fa("staff@example.test")


def reply_url(thread: Thread) -> str:
    return reverse("admin:support_thread_reply", args=[thread.pk])


def test_staff_see_threads_and_their_messages(staff: Client, thread: Thread) -> None:
    listing = staff.get(reverse("admin:support_thread_changelist"))
    assert listing.status_code == 200
    assert thread.reference.encode() in listing.content
    page = staff.get(reverse("admin:support_thread_change", args=[thread.pk]))
    assert page.status_code == 200
    assert b"Since Tuesday &amp; today." in page.content
    assert reply_url(thread).encode() in page.content


def test_a_staff_reply_is_mailed_threaded_and_shown_to_the_owner(
    staff: Client,
    thread: Thread,
    owner_client: Client,
    user: User,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    incoming = thread.messages.get(direction=Direction.IN)
    form = staff.get(reply_url(thread))
    assert form.status_code == 200 and escape(incoming.message_id).encode() in form.content
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(reply_url(thread), {"message": "Fixed: rotate the key <now>."})
    assert response.status_code == 302

    [sent] = mail.outbox
    assert sent.to == [user.email]
    assert sent.subject == f"Re: [{thread.reference}] DKIM fails <b>sometimes</b>"
    assert sent.extra_headers["In-Reply-To"] == incoming.message_id
    assert sent.extra_headers["References"] == incoming.message_id
    assert "Auto-Submitted" not in sent.extra_headers  # a person wrote it
    assert sent.body.startswith("Fixed: rotate the key <now>.")  # text mail: not escaped
    reply = thread.messages.get(direction=Direction.OUT, automatic=False)
    assert reply.message_id == sent.extra_headers["Message-ID"]
    assert reply.delivery == Delivery.SENT and reply.author is not None
    assert reply.author.email == "staff@example.test"
    thread.refresh_from_db()
    assert thread.state == ThreadState.ANSWERED

    page = owner_client.get(reverse("support_thread", args=[thread.pk]))
    assert page.status_code == 200
    assert b"Fixed: rotate the key &lt;now&gt;." in page.content
    assert b"DKIM fails &lt;b&gt;sometimes&lt;/b&gt;" in page.content
    assert b"We received your message" not in page.content  # the acknowledgement is not listed


def test_a_reply_that_cannot_be_sent_is_stored_as_failed_and_sent_again_later(
    staff: Client, thread: Thread, settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    smtp = settings.EMAIL_BACKEND
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nobody listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reply_url(thread), {"message": "Try this."})
    reply = SupportMessage.objects.get(thread=thread, direction=Direction.OUT, automatic=False)
    assert reply.delivery == Delivery.FAILED and reply.delivery_error
    assert reply.body == "Try this."  # nothing lost

    settings.EMAIL_BACKEND = smtp
    staff.post(
        reverse("admin:support_thread_changelist"),
        {"action": "send_failed_again", "_selected_action": [str(thread.pk)]},
    )
    reply.refresh_from_db()
    assert reply.delivery == Delivery.SENT
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [reply.message_id]


def test_the_owner_replies_on_the_thread_page(
    owner_client: Client, thread: Thread, user: User
) -> None:
    thread.state = ThreadState.ANSWERED
    thread.save()
    url = reverse("support_thread", args=[thread.pk])
    assert owner_client.post(url, {"message": ""}).status_code == 400
    response = owner_client.post(url, {"message": "Thanks, one more thing."})
    assert response.status_code == 302
    added = thread.messages.order_by("-id").first()
    assert added is not None and added.direction == Direction.IN
    assert (added.from_address, added.body) == (user.email, "Thanks, one more thing.")
    thread.refresh_from_db()
    assert thread.state == ThreadState.OPEN


def test_another_user_gets_404_and_does_not_see_the_thread_listed(
    thread: Thread, other_client: Client, owner_client: Client
) -> None:
    url = reverse("support_thread", args=[thread.pk])
    assert other_client.get(url).status_code == 404
    assert other_client.post(url, {"message": "let me in"}).status_code == 404
    assert not thread.messages.filter(body="let me in").exists()
    theirs = other_client.get(reverse("support_threads"))
    assert theirs.status_code == 200 and thread.reference.encode() not in theirs.content
    mine = owner_client.get(reverse("support_threads"))
    assert thread.reference.encode() in mine.content


def test_signed_out_the_thread_pages_ask_to_sign_in(thread: Thread) -> None:
    for url in (reverse("support_threads"), reverse("support_thread", args=[thread.pk])):
        response = Client().get(url)
        assert response.status_code == 302 and "/account/login/" in response["Location"]


def test_a_member_who_is_not_staff_cannot_reply(owner_client: Client, thread: Thread) -> None:
    response = owner_client.post(reply_url(thread), {"message": "I am staff now"})
    assert response.status_code == 302
    assert not thread.messages.filter(direction=Direction.OUT, automatic=False).exists()


def test_the_thread_list_costs_the_same_queries_for_one_thread_and_many(
    user: User, owner_client: Client
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(reverse("support_threads")).status_code == 200
        return len(captured)

    submit_contact(email=user.email, subject="One", body="x", owner=user, ip="192.0.2.1")
    queries()  # the first request of a session records the session too
    one = queries()
    for n in range(30):
        Thread.objects.create(owner=user, email=user.email, subject=f"T{n}", reference=f"S-{n:06d}")
    assert queries() == one


def test_staff_replies_to_a_thread_without_an_address_are_refused(staff: Client) -> None:
    orphan = Thread.objects.create(email="", subject="No From header", reference="S-AAAAAA")
    response = staff.post(reply_url(orphan), {"message": "Hello?"})
    assert response.status_code == 302
    assert not orphan.messages.exists() and mail.outbox == []
