"""The contact form: public, a thread with its first message, an acknowledgement mail."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from lab.smtp_store import header, wait_for_message
from mailpanel.accounts.models import User
from mailpanel.support.models import Delivery, Direction, SupportMessage, Thread

pytestmark = pytest.mark.django_db
URL = "/support/"
GOOD = {"email": "ann@example.test", "subject": "Where is my DKIM key?", "message": "Hi,\nhelp."}
Capture = Callable[..., Any]


def post(client: Client, ip: str = "192.0.2.1", **changes: str) -> Any:
    return client.post(URL, {**GOOD, **changes}, REMOTE_ADDR=ip)


def test_the_form_is_public_and_linked_from_every_page() -> None:
    page = Client().get(reverse("home"))
    assert reverse("support_contact") == URL
    assert f'href="{URL}"'.encode() in page.content
    form = Client().get(URL)
    assert form.status_code == 200
    email_input = re.search(rb"<input[^>]*name=\"email\"[^>]*>", form.content)
    assert email_input is not None and b"value=" not in email_input[0]


def test_a_signed_out_visitor_opens_a_thread_and_is_told_its_reference(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client)
    assert response.status_code == 302
    thread = Thread.objects.get()
    assert (thread.owner, thread.email, thread.subject) == (None, GOOD["email"], GOOD["subject"])
    first = thread.messages.get(direction=Direction.IN)
    assert first.body == "Hi,\nhelp." and first.from_address == GOOD["email"]
    assert first.message_id.endswith(f"@{settings.MAIL_DOMAIN}>")

    page = client.get(response["Location"])
    assert thread.reference.encode() in page.content
    assert b"See the thread" not in page.content  # nobody's thread: no page to see


def test_a_signed_in_user_gets_their_address_prefilled_and_owns_the_thread(
    user: User, owner_client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    form = owner_client.get(URL)
    assert f'value="{user.email}"'.encode() in form.content
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, email=user.email)
    thread = Thread.objects.get()
    assert thread.owner == user
    page = owner_client.get(response["Location"])
    assert reverse("support_thread", args=[thread.pk]).encode() in page.content
    assert reverse("support_thread", args=[thread.pk]) in mail.outbox[0].body


@pytest.mark.parametrize(
    "changes",
    [
        {"email": ""},
        {"subject": ""},
        {"message": ""},
        {"message": "   "},
        {"email": "not-an-address"},
        {"email": "ann@"},
        {"subject": "x" * 201},
        {"message": "x" * 10_001},
        {"subject": "Hello\r\nBcc: victim@example.test"},
        {"subject": "Hello\nthere"},
        {"subject": "nul\x00byte"},
        {"message": "nul\x00byte"},
        {"email": settings.SUPPORT_EMAIL},
    ],
)
def test_bad_input_is_refused_and_changes_nothing(changes: dict[str, str]) -> None:
    response = post(Client(), **changes)
    assert response.status_code == 400
    assert b'class="error"' in response.content
    assert not Thread.objects.exists() and not SupportMessage.objects.exists()
    assert mail.outbox == []


def test_the_longest_accepted_input_is_stored_whole() -> None:
    response = post(Client(), subject="s" * 200, message="m" * 10_000)
    assert response.status_code == 302
    assert Thread.objects.get().subject == "s" * 200
    assert SupportMessage.objects.get(direction=Direction.IN).body == "m" * 10_000


def test_the_sixth_message_in_an_hour_from_one_address_is_refused() -> None:
    for n in range(5):
        assert post(Client(), ip=f"192.0.2.{n + 1}").status_code == 302
    refused = post(Client(), ip="192.0.2.99")
    assert refused.status_code == 429
    assert b"in the last hour" in refused.content and b"Nothing was stored" in refused.content
    assert Thread.objects.count() == 5


def test_the_sixth_message_in_an_hour_from_one_client_is_refused() -> None:
    client = Client()
    for n in range(5):
        assert post(client, email=f"person{n}@example.test").status_code == 302
    refused = post(client, email="someone.else@example.test")
    assert refused.status_code == 429
    assert b"in the last hour" in refused.content
    assert Thread.objects.count() == 5
    assert not Thread.objects.filter(email="someone.else@example.test").exists()
    # Another network is still welcome.
    assert post(Client(), ip="198.51.100.7", email="someone.else@example.test").status_code == 302


def test_refused_input_does_not_use_up_the_limit() -> None:
    for _ in range(6):
        assert post(Client(), email="bad").status_code == 400
    assert post(Client()).status_code == 302


def test_the_honeypot_filled_in_stores_nothing(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    page = Client().get(URL)
    assert b'class="visually-hidden"' in page.content and b'name="website"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = post(Client(), website="https://spam.example/")
    assert response.status_code == 400
    assert b"Nothing was sent" in response.content
    assert not Thread.objects.exists()
    assert mail.outbox == []


def test_the_acknowledgement_carries_the_reference_and_nothing_the_sender_wrote(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        post(Client(), subject="Buy cheap pills", message="Visit https://spam.example/ now")
    thread = Thread.objects.get()
    [ack] = mail.outbox
    assert ack.to == [GOOD["email"]]
    assert ack.subject == f"[{thread.reference}] We received your message"
    assert ack.reply_to == [settings.SUPPORT_EMAIL]
    assert ack.extra_headers["Auto-Submitted"] == "auto-generated"
    assert thread.reference in ack.body
    # An address typed into a form is nobody's proof: nothing of theirs is echoed to it.
    assert "pills" not in f"{ack.subject} {ack.body}" and "spam.example" not in str(ack.body)
    stored = thread.messages.get(direction=Direction.OUT)
    assert stored.automatic and stored.delivery == Delivery.SENT
    assert stored.message_id == ack.extra_headers["Message-ID"]
    first = thread.messages.get(direction=Direction.IN)
    assert ack.extra_headers["In-Reply-To"] == first.message_id


def test_the_acknowledgement_reaches_a_real_mail_server(
    mx: Path, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert post(Client()).status_code == 302
    thread = Thread.objects.get()
    message = wait_for_message(mx, lambda m: GOOD["email"] in m["rcpt_to"])
    assert header(message, "Subject") == f"[{thread.reference}] We received your message"
    assert header(message, "Reply-To") == settings.SUPPORT_EMAIL
    assert header(message, "Message-ID") == thread.messages.get(automatic=True).message_id
    assert thread.reference.encode() in message["raw"]


def test_an_acknowledgement_that_cannot_be_sent_is_kept_as_failed(
    settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nobody listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with django_capture_on_commit_callbacks(execute=True):
        response = post(Client())
    assert response.status_code == 302  # the sender's message is safe either way
    ack = SupportMessage.objects.get(automatic=True)
    assert ack.delivery == Delivery.FAILED
    assert "Connection refused" in ack.delivery_error or "Errno" in ack.delivery_error
