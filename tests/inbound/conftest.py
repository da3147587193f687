"""The receiver on an ephemeral port, recording handlers, and raw messages to send it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings

from mailpanel.inbound import routing
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.receiver import InboundReceiver, running_receiver

Handled = dict[str, list[InboundMessage]]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, settings: Settings) -> Path:
    """A data folder per test, so a test sees only the files its own messages made."""
    folder = tmp_path / "data"
    settings.DATA_DIR = folder
    return folder


@pytest.fixture
def receiver() -> Iterator[InboundReceiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def handled() -> Iterator[Handled]:
    """Handlers under the real names that record what they were given; the real ones after."""
    saved = dict(routing.HANDLERS)
    calls: Handled = {routing.DATA_REQUEST: [], routing.SUPPORT: []}
    for name, seen in calls.items():
        routing.register(name, seen.append)
    yield calls
    routing.HANDLERS.clear()
    routing.HANDLERS.update(saved)


def raw_mail(*headers: str, body: bytes = b"Hello.\r\n") -> bytes:
    """A message as it travels: header lines, a blank line, the body, CRLF throughout.

    Lone surrogates in a header line stand for raw bytes (``"\\udce9"`` is the byte 0xE9).
    """
    head = "".join(f"{line}\r\n" for line in headers)
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + body


def send(
    receiver: InboundReceiver,
    raw: bytes,
    to: list[str] | None = None,
    sender: str = "ann@example.test",
) -> dict[str, tuple[int, bytes]]:
    """Deliver over SMTP; returns smtplib's refused recipients (empty: all accepted)."""
    with smtplib.SMTP(receiver.host, receiver.port, timeout=10) as smtp:
        return smtp.sendmail(sender, to or [settings.PRIVACY_EMAIL], raw)
