"""The receiver over a real socket: what it accepts, refuses, stores and routes."""

from __future__ import annotations

import smtplib
import stat
from pathlib import Path

import pytest
from django.conf import settings
from huey.api import Huey
from pytest_django.fixtures import Settings

from mailpanel.inbound import routing
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.receiver import InboundReceiver, running_receiver
from mailpanel.inbound.store import delete_stored_files, raw_path
from tests.helpers import drain
from tests.inbound.conftest import Handled, raw_mail, send

pytestmark = pytest.mark.django_db(transaction=True)

DATA_REQUEST_MAIL = raw_mail(
    'From: "Ann Example" <ann@example.test>',
    "To: privacy@mailpanel.localhost",
    "Subject: Re: data request - please export",
    "Message-ID: <request-1@example.test>",
    "In-Reply-To: <notice-7@mailpanel.localhost>",
    "References: <notice-6@mailpanel.localhost>\r\n <notice-7@mailpanel.localhost>",
    "Date: Thu, 03 Dec 2026 06:25:00 +0000",
    "Content-Type: text/plain; charset=utf-8",
    body=b"Please send me everything you hold about me.\r\n",
)


def test_a_data_request_to_privacy_is_stored_with_its_fields_and_routed(
    receiver: InboundReceiver, handled: Handled, queue: Huey
) -> None:
    refused = send(receiver, DATA_REQUEST_MAIL, sender="Bounce@Example.test")

    assert refused == {}
    message = InboundMessage.objects.get()
    assert message.message_id == "<request-1@example.test>"
    assert message.mail_from == "Bounce@Example.test"
    assert message.rcpt_to == [settings.PRIVACY_EMAIL]
    assert message.from_address == "ann@example.test"
    assert message.from_name == "Ann Example"
    assert message.subject == "Re: data request - please export"
    assert message.in_reply_to == "<notice-7@mailpanel.localhost>"
    assert message.references == "<notice-6@mailpanel.localhost> <notice-7@mailpanel.localhost>"
    assert message.reference_ids == [
        "<notice-7@mailpanel.localhost>",
        "<notice-6@mailpanel.localhost>",
    ]
    assert message.text_body == "Please send me everything you hold about me.\r\n"
    assert message.html_body == ""
    assert message.raw_size == len(DATA_REQUEST_MAIL)
    assert message.raw_file == f"{message.pk}.eml"
    assert message.routed_at is None  # routing waits for the worker

    assert drain(queue) == 1

    assert [m.pk for m in handled[routing.DATA_REQUEST]] == [message.pk]
    assert handled[routing.SUPPORT] == []
    message.refresh_from_db()
    assert message.routed_to == routing.DATA_REQUEST
    assert message.routed_at is not None
    assert message.route_error == ""


def test_mail_to_support_is_routed_to_support(
    receiver: InboundReceiver, handled: Handled, queue: Huey
) -> None:
    send(
        receiver,
        raw_mail("Subject: My server will not send", "Message-ID: <s-1@example.test>"),
        to=[settings.SUPPORT_EMAIL.upper()],
    )
    drain(queue)

    message = InboundMessage.objects.get()
    assert message.rcpt_to == [settings.SUPPORT_EMAIL]
    assert [m.pk for m in handled[routing.SUPPORT]] == [message.pk]
    assert message.__class__.objects.get().routed_to == routing.SUPPORT


def test_mail_for_another_address_is_refused_at_rcpt(receiver: InboundReceiver) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(receiver, raw_mail("Subject: hi"), to=["someone@mailpanel.localhost"])

    assert refused.value.recipients["someone@mailpanel.localhost"][0] == 550
    assert not InboundMessage.objects.exists()


def test_of_two_recipients_only_ours_is_accepted_and_kept(receiver: InboundReceiver) -> None:
    refused = send(
        receiver,
        raw_mail("Subject: hi", "Message-ID: <two@example.test>"),
        to=["elsewhere@example.test", settings.SUPPORT_EMAIL],
    )

    assert refused["elsewhere@example.test"][0] == 550
    assert InboundMessage.objects.get().rcpt_to == [settings.SUPPORT_EMAIL]


def test_a_message_over_the_size_limit_gets_552_and_nothing_is_stored(
    settings: Settings,
) -> None:
    settings.INBOUND_MAX_BYTES = 2000
    big = raw_mail(
        "Subject: big", "Message-ID: <big@example.test>", body=(b"x" * 70 + b"\r\n") * 40
    )

    with running_receiver() as receiver:
        # smtplib announces the size (MAIL FROM ... SIZE=): refused before the data.
        with pytest.raises(smtplib.SMTPSenderRefused) as announced:
            send(receiver, big)
        # A client that does not announce it is refused at the end of the data.
        with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as smtp:
            smtp.ehlo()
            smtp.mail("ann@example.test")
            smtp.rcpt(settings.PRIVACY_EMAIL)
            code, _text = smtp.data(big)

    assert announced.value.smtp_code == 552
    assert code == 552
    assert not InboundMessage.objects.exists()
    assert not any((Path(settings.DATA_DIR) / "inbound").glob("*.eml"))


def test_the_same_message_id_twice_is_one_row(receiver: InboundReceiver) -> None:
    first = raw_mail("Subject: once", "Message-ID: <same@example.test>")
    again = raw_mail("Subject: once (resent)", "Message-ID:   same@example.test  ")

    assert send(receiver, first) == {}
    assert send(receiver, again) == {}  # still a success for the sender

    assert InboundMessage.objects.get().subject == "once"
    assert len(list((Path(settings.DATA_DIR) / "inbound").glob("*.eml"))) == 1


def test_the_same_bytes_without_a_message_id_twice_is_one_row(receiver: InboundReceiver) -> None:
    raw = raw_mail("Subject: no id here", "From: ann@example.test")

    send(receiver, raw)
    send(receiver, raw)

    message = InboundMessage.objects.get()
    assert message.message_id.startswith("<generated-")
    assert message.message_id.endswith(f"@{settings.MAIL_DOMAIN}>")


def test_the_raw_file_is_private_and_holds_the_exact_bytes(receiver: InboundReceiver) -> None:
    raw = raw_mail(
        "Subject: =?utf-8?q?caf=C3=A9?=",
        "Message-ID: <raw@example.test>",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: 8bit",
        body=b"caf\xe9\r\n..a line that began with a dot\r\n\r\nend\r\n",
    )

    send(receiver, raw)

    path = raw_path(InboundMessage.objects.get())
    assert path.read_bytes() == raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert InboundMessage.objects.get().text_body.startswith("café\r\n..a line")


def test_a_failing_handler_keeps_the_message_with_its_error(
    receiver: InboundReceiver, handled: Handled, queue: Huey
) -> None:
    def broken(message: InboundMessage) -> None:
        InboundMessage.objects.filter(pk=message.pk).update(subject="half done")
        raise RuntimeError("the support desk is down")

    routing.register(routing.SUPPORT, broken)
    send(receiver, raw_mail("Subject: help", "Message-ID: <h@example.test>"))
    drain(queue)

    message = InboundMessage.objects.get()
    assert message.routed_at is None and message.routed_to == ""
    assert message.route_error == "support: RuntimeError: the support desk is down"
    assert message.subject == "help"  # the handler's half-done work was rolled back

    routing.register(routing.SUPPORT, handled[routing.SUPPORT].append)
    assert routing.route_message(message.pk) == routing.SUPPORT
    message.refresh_from_db()
    assert message.routed_to == routing.SUPPORT and message.route_error == ""


def test_a_message_is_routed_once_however_often_it_is_asked(
    receiver: InboundReceiver, handled: Handled, queue: Huey
) -> None:
    from mailpanel.inbound.tasks import route_inbound_task

    send(receiver, raw_mail("Subject: help", "Message-ID: <once@example.test>"))
    message = InboundMessage.objects.get()
    route_inbound_task(str(message.pk))  # a second task for the same message
    drain(queue)
    routing.route_message(message.pk)

    assert [m.pk for m in handled[routing.SUPPORT]] == [message.pk]


def test_a_message_with_no_registered_handler_waits_with_an_error(
    receiver: InboundReceiver, queue: Huey
) -> None:
    saved = dict(routing.HANDLERS)
    routing.HANDLERS.clear()
    try:
        send(receiver, raw_mail("Subject: help", "Message-ID: <nobody@example.test>"))
        drain(queue)
    finally:
        routing.HANDLERS.update(saved)

    message = InboundMessage.objects.get()
    assert message.routed_at is None
    assert message.route_error == "no handler registered for 'support'"


def test_a_message_that_cannot_be_stored_gets_451_so_the_sender_retries(
    settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    settings.DATA_DIR = blocked  # DATA_DIR/inbound cannot be made

    with running_receiver() as receiver, pytest.raises(smtplib.SMTPDataError) as failed:
        send(receiver, raw_mail("Subject: hi", "Message-ID: <451@example.test>"))

    assert failed.value.smtp_code == 451
    assert not InboundMessage.objects.exists()


def test_deleting_a_messages_files_leaves_nothing_on_disk(
    receiver: InboundReceiver, data_dir: Path
) -> None:
    raw = raw_mail(
        'Content-Type: multipart/mixed; boundary="b"',
        "Message-ID: <files@example.test>",
        body=(
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b'--b\r\nContent-Type: text/plain; name="a.txt"\r\n'
            b'Content-Disposition: attachment; filename="a.txt"\r\n\r\nA\r\n--b--\r\n'
        ),
    )
    send(receiver, raw)
    message = InboundMessage.objects.get()
    assert len(list((data_dir / "inbound").iterdir())) == 2

    assert delete_stored_files([message]) == 2
    assert delete_stored_files([message]) == 0  # already gone: not an error

    assert list((data_dir / "inbound").iterdir()) == []
