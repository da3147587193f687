"""Support tests: a fresh rate-limit window, received mail built and stored the real way,
and the lab's SMTP receiver standing in for the correspondents' mail servers."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache

from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.store import store_message

HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def fresh_limits() -> Iterator[None]:
    """Every test starts a new hour: the rate limits live in the cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, settings: Any) -> Path:
    """Received mail's raw files in this test's own folder."""
    settings.DATA_DIR = tmp_path / "data"
    return Path(settings.DATA_DIR)


def raw_mail(
    sender: str,
    subject: str,
    body: str = "Hello support.",
    *,
    message_id: str = "",
    in_reply_to: str = "",
    references: str = "",
    to: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A message as a mail program writes it (CRLF, a Message-ID of the sender's domain)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to or settings.SUPPORT_EMAIL
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))


def received(
    sender: str, subject: str, body: str = "Hello support.", **options: Any
) -> InboundMessage:
    """Store a message the way the receiver does (raw file and row); not yet routed."""
    raw = raw_mail(sender, subject, body, **options)
    return store_message(raw, sender, [settings.SUPPORT_EMAIL]).message
