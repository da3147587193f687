"""Mail to support: a reply joins its thread, anything else opens one, loops are not fed."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import pytest
from django.conf import settings
from django.core import mail

from mailpanel.accounts.models import User
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.routing import SUPPORT, route_message
from mailpanel.inbound.store import store_message
from mailpanel.support.actions import handle_support_mail
from mailpanel.support.models import Direction, SupportMessage, Thread, ThreadState
from tests.support.conftest import raw_mail, received

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]
ANN = "ann@example.test"


@pytest.fixture
def route(django_capture_on_commit_callbacks: Capture) -> Callable[[InboundMessage], str]:
    """Route a stored message as the queued task does, and send what it sends."""

    def run(message: InboundMessage) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            return route_message(message.pk)

    return run


def opened(route: Callable[[InboundMessage], str], sender: str = ANN) -> Thread:
    message = received(sender, "My server does not start", "It says: error 42.")
    assert route(message) == SUPPORT
    return Thread.objects.get(messages__inbound=message)


def test_a_new_mail_opens_a_thread_and_is_acknowledged(route: Any) -> None:
    thread = opened(route)
    assert (thread.email, thread.subject, thread.owner) == (ANN, "My server does not start", None)
    first = thread.messages.get(direction=Direction.IN)
    assert first.body.strip() == "It says: error 42."
    assert first.inbound is not None and first.message_id == first.inbound.message_id
    [ack] = mail.outbox
    assert ack.to == [ANN] and ack.subject == f"[{thread.reference}] We received your message"
    assert ack.extra_headers["In-Reply-To"] == first.message_id
    assert ack.extra_headers["References"] == first.message_id


def test_a_mail_from_an_account_lands_in_that_account(route: Any, user: User) -> None:
    thread = opened(route, sender=user.email.upper())
    assert thread.owner == user


def test_a_reply_joins_its_thread_by_in_reply_to(route: Any) -> None:
    thread = opened(route)
    ack_id = mail.outbox[0].extra_headers["Message-ID"]
    reply = received("colleague@other.example", "Re: something else", "Forgot: it is Debian.",
                     in_reply_to=ack_id)  # fmt: skip
    route(reply)
    assert Thread.objects.count() == 1
    assert thread.messages.filter(inbound=reply).exists()
    assert len(mail.outbox) == 1  # a reply is not acknowledged again


def test_a_reply_joins_by_references_when_in_reply_to_is_unknown(route: Any) -> None:
    thread = opened(route)
    first = thread.messages.get(direction=Direction.IN).message_id
    reply = received(ANN, "Re: x", in_reply_to="<nobody@knows.example>", references=first)
    route(reply)
    assert thread.messages.filter(inbound=reply).exists()


def test_a_reply_joins_by_the_reference_in_its_subject_from_the_same_address(route: Any) -> None:
    thread = opened(route)
    thread.state = ThreadState.ANSWERED
    thread.save()
    reply = received(ANN.upper(), f"Re: [{thread.reference.lower()}] My server", "Still broken.")
    route(reply)
    assert Thread.objects.count() == 1
    thread.refresh_from_db()
    assert thread.state == ThreadState.OPEN  # the correspondent wrote again
    assert thread.messages.filter(inbound=reply, body__contains="Still broken").exists()


def test_a_reference_in_the_subject_from_another_address_opens_a_new_thread(route: Any) -> None:
    thread = opened(route)
    guess = received("mallory@evil.example", f"Re: [{thread.reference}] My server", "Me too!")
    route(guess)
    assert not thread.messages.filter(inbound=guess).exists()
    other = Thread.objects.exclude(pk=thread.pk).get()
    assert other.email == "mallory@evil.example"
    assert other.messages.filter(inbound=guess).exists()


def test_mail_from_our_own_addresses_is_never_acknowledged(route: Any) -> None:
    for sender in (
        settings.SUPPORT_EMAIL,
        settings.PRIVACY_EMAIL,
        parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
    ):
        route(received(sender, "Out of office"))
    assert Thread.objects.count() == 3
    assert mail.outbox == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated; owner-email=x@example.test"},
        {"Precedence": "bulk"},
        {"List-Id": "<news.example.test>"},
        {"X-Auto-Response-Suppress": "All"},
    ],
)
def test_automatic_and_bulk_mail_is_stored_but_not_acknowledged(
    route: Any, headers: dict[str, str]
) -> None:
    route(received(ANN, "I am on holiday", headers=headers))
    assert Thread.objects.count() == 1
    assert mail.outbox == []


def test_auto_submitted_no_is_a_person(route: Any) -> None:
    route(received(ANN, "Hello", headers={"Auto-Submitted": "no"}))
    assert len(mail.outbox) == 1


def test_a_bounce_with_an_empty_envelope_sender_is_not_answered(route: Any) -> None:
    raw = raw_mail("mailer@bounces.example", "Undelivered Mail Returned to Sender")
    message = store_message(raw, "", [settings.SUPPORT_EMAIL]).message
    route(message)
    assert Thread.objects.count() == 1 and mail.outbox == []


def test_an_autoresponder_that_marks_nothing_gets_five_acknowledgements_an_hour(
    route: Any,
) -> None:
    for n in range(8):
        route(received("robot@example.test", f"Automatic reply {n}"))
    assert Thread.objects.count() == 8  # every message is kept for staff
    assert len(mail.outbox) == 5


def test_routing_the_same_message_twice_stores_it_once(route: Any) -> None:
    message = received(ANN, "Once")
    route(message)
    handle_support_mail(message)
    assert SupportMessage.objects.filter(inbound=message).count() == 1


def test_an_html_only_mail_is_kept_as_text_and_sanitised_html(route: Any) -> None:
    html = EmailMessage()
    html["From"], html["To"], html["Subject"] = ANN, settings.SUPPORT_EMAIL, "HTML"
    html["Message-ID"] = "<html-only@example.test>"
    html.set_content("<p>Hi <b>there</b></p><script>alert(1)</script>", subtype="html")
    message = store_message(html.as_bytes(), ANN, [settings.SUPPORT_EMAIL]).message
    route(message)
    stored = SupportMessage.objects.get(inbound=message)
    assert stored.body == "Hi there"
    assert "<script" not in stored.html_body
