"""Whatever arrives is stored safely: malformed MIME, lying charsets, injections, scripts."""

from __future__ import annotations

import base64
import smtplib
import stat
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.receiver import InboundReceiver
from mailpanel.inbound.store import attachment_path
from tests.inbound.conftest import raw_mail, send

pytestmark = pytest.mark.django_db(transaction=True)

TEXT_FIELDS = ("message_id", "mail_from", "from_address", "from_name", "subject", "in_reply_to")


def received(receiver: InboundReceiver, raw: bytes) -> InboundMessage:
    assert send(receiver, raw) == {}
    message = InboundMessage.objects.get()
    for name in TEXT_FIELDS:
        value = getattr(message, name)
        assert "\r" not in value and "\n" not in value and "\x00" not in value, name
    return message


def test_a_broken_multipart_boundary_keeps_what_can_be_read(receiver: InboundReceiver) -> None:
    message = received(
        receiver,
        raw_mail(
            "Subject: broken",
            'Content-Type: multipart/mixed; boundary="promised"',
            body=b"--delivered\r\nContent-Type: text/plain\r\n\r\nthe words\r\n--delivered--\r\n",
        ),
    )

    assert "the words" in message.text_body
    assert message.subject == "broken"


def test_latin1_bytes_declared_utf8_become_replacement_characters(
    receiver: InboundReceiver,
) -> None:
    message = received(
        receiver,
        raw_mail(
            "Subject: caf\xe9".encode("latin-1").decode("ascii", "surrogateescape"),
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            body="Caf\xe9 cr\xe8me, s'il vous pla\xeet\r\n".encode("latin-1"),
        ),
    )

    assert message.text_body == "Caf\ufffd cr\ufffdme, s'il vous pla\ufffdt\r\n"
    assert message.subject == "caf\ufffd"


def test_an_unknown_charset_is_read_as_utf8(receiver: InboundReceiver) -> None:
    message = received(
        receiver,
        raw_mail(
            "Subject: =?x-klingon?q?Qapla=E9?= and more",
            "Content-Type: text/plain; charset=x-klingon",
            body="naïve\x00\r\n".encode(),
        ),
    )

    assert message.text_body == "naïve\r\n"  # NUL is dropped: PostgreSQL refuses it
    assert message.subject == "Qapla\ufffd and more"


def test_encoded_word_subject_and_name_are_decoded(receiver: InboundReceiver) -> None:
    message = received(
        receiver,
        raw_mail(
            "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@example.test>",
            "Subject: =?utf-8?b?RGF0ZW5hdXNrdW5mdCDDvGJlciBtaWNo?=",
        ),
    )

    assert message.subject == "Datenauskunft über mich"
    assert message.from_name == "Jörg Müller"
    assert message.from_address == "jorg@example.test"


@pytest.mark.parametrize(
    "from_header",
    [
        "=?utf-8?q?Ann=0D=0ABcc=3A_victim=40example=2Etest?= <ann@example.test>",
        "=?utf-8?q?Ann=0D=0ABcc:_victim@example.test?= <ann@example.test>",
        '"Ann\r\n Bcc: victim@example.test" <ann@example.test>',
    ],
)
def test_crlf_in_the_from_name_cannot_add_a_header(
    receiver: InboundReceiver, from_header: str
) -> None:
    message = received(
        receiver,
        raw_mail(
            f"From: {from_header}",
            "Subject: =?utf-8?q?hi=0D=0ABcc=3A_victim=40example=2Etest?=",
            "Message-ID: <x\r\n @example.test>",
        ),
    )

    assert message.from_address == "ann@example.test"
    assert message.from_name == "Ann Bcc: victim@example.test"
    assert message.subject == "hi Bcc: victim@example.test"


def test_html_is_kept_only_sanitised(receiver: InboundReceiver) -> None:
    html = (
        "<html><head><title>t</title><style>body{display:none}</style></head><body>"
        '<p onclick="steal()" style="color:red">Hello &amp; welcome</p>'
        "<script>alert(document.cookie)</script>"
        '<a href="javascript:alert(1)">bad</a> <a href="https://example.test/">good</a>'
        '<img src="x" onerror="steal()"></body></html>'
    )
    message = received(
        receiver, raw_mail("Content-Type: text/html; charset=utf-8", body=html.encode())
    )

    lowered = message.html_body.lower()
    for hostile in ("<script", "alert", "onclick", "onerror", "javascript:", "<style", "style="):
        assert hostile not in lowered
    assert '<a href="https://example.test/" rel="noopener noreferrer">good</a>' in message.html_body
    assert message.text_body == "Hello & welcome\nbad good"


def test_a_plain_part_is_the_text_and_the_html_part_is_sanitised(
    receiver: InboundReceiver,
) -> None:
    message = received(
        receiver,
        raw_mail(
            'Content-Type: multipart/alternative; boundary="b"',
            body=(
                b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe plain words\r\n"
                b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                b"<p onmouseover=x()>the html words</p>\r\n--b--\r\n"
            ),
        ),
    )

    assert message.text_body == "the plain words"
    assert message.html_body == "<p>the html words</p>"


def test_an_overlong_subject_is_cut_to_what_the_column_holds(receiver: InboundReceiver) -> None:
    folded = "\r\n ".join(["word" * 20] * 20)  # 1,600 characters over folded lines
    message = received(receiver, raw_mail(f"Subject: {folded}"))

    assert len(message.subject) == 998


def attachment(name: str, payload: bytes, content_type: str = "application/pdf") -> bytes:
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (
        f'--b\r\nContent-Type: {content_type}; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + encoded


def test_an_attachment_under_the_cap_is_kept_and_one_over_it_only_listed(
    receiver: InboundReceiver, settings: Settings
) -> None:
    settings.INBOUND_ATTACHMENT_MAX_BYTES = 1000
    small, large = b"%PDF small " * 50, b"%PDF large " * 200
    raw = raw_mail(
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            b"--b\r\nContent-Type: text/plain\r\n\r\nTwo files attached.\r\n"
            + attachment("../../id card.pdf", small)
            + attachment("scan.pdf", large)
            + b"--b--\r\n"
        ),
    )

    message = received(receiver, raw)

    kept, listed = message.attachments.order_by("id")
    assert (kept.filename, kept.content_type, kept.size) == ("id card.pdf", "application/pdf", 550)
    path = attachment_path(kept)
    assert path is not None and path.name.startswith("att-")
    assert path.read_bytes() == small
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (listed.filename, listed.size, listed.stored_file) == ("scan.pdf", 2200, "")
    assert attachment_path(listed) is None
    assert len(list((Path(settings.DATA_DIR) / "inbound").glob("att-*"))) == 1
    assert message.text_body == "Two files attached."


def test_undecodable_bytes_in_the_envelope_and_mime_headers_are_stored(
    receiver: InboundReceiver, settings: Settings
) -> None:
    raw = raw_mail(
        "Subject: eight bit",
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
            b'--b\r\nContent-Type: application/x-\xff\xfe; name="r\xe9sum\xe9.pdf"\r\n\r\n'
            b"data\r\n--b--\r\n"
        ),
    )
    with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.send(b"MAIL FROM:<b\xffd@example.test>\r\n")
        assert smtp.getreply()[0] == 250
        assert smtp.rcpt(settings.PRIVACY_EMAIL)[0] == 250
        assert smtp.data(raw)[0] == 250

    message = InboundMessage.objects.get()
    assert message.mail_from == "b\ufffdd@example.test"
    [part] = message.attachments.all()
    assert part.filename == "r\ufffdsum\ufffd.pdf"
    assert part.content_type == "application/x-\ufffd\ufffd"
