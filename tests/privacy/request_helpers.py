"""What the data-request and minor-report tests share: mail as the receiver stores it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage

from mailpanel.inbound.models import InboundMessage

STAFF = "staff-notices@example.test"
LINK = re.compile(r"https?://\S+/account/data/requests/confirm/(\S+)/")


@pytest.fixture
def staff_notices(settings: Any) -> str:
    settings.STAFF_NOTICES_TO = [STAFF]
    return STAFF


@pytest.fixture
def empty_cache() -> Iterator[None]:
    """The rate limits count in the cache: each test starts, and leaves, with none."""
    cache.clear()
    yield
    cache.clear()


def inbound(
    from_address: str,
    subject: str = "Re: data request - please export",
    text_body: str = "Please send me a copy of everything you hold about me.",
) -> InboundMessage:
    """A row as the receiver stores a message to the privacy address."""
    return InboundMessage.objects.create(
        message_id=f"<{uuid.uuid4()}@example.test>",
        mail_from=from_address,
        rcpt_to=[settings.PRIVACY_EMAIL],
        from_address=from_address,
        subject=subject,
        text_body=text_body,
    )


def sent_to(outbox: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in outbox if address in m.to]


def confirm_path(body: object) -> str:
    """The confirmation link's path in an acknowledgement's text."""
    match = LINK.search(str(body))
    assert match, body
    return f"/account/data/requests/confirm/{match[1]}/"
