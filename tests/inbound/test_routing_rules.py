"""Which feature takes a received message, by address and subject."""

from __future__ import annotations

import pytest
from django.conf import settings

from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.routing import DATA_REQUEST, HANDLERS, MINOR_REPORT, SUPPORT, route_name


def message(to: str, subject: str) -> InboundMessage:
    return InboundMessage(message_id="<x@example.test>", rcpt_to=[to], subject=subject)


@pytest.mark.parametrize(
    ("to", "subject", "route"),
    [
        ("privacy", "Re: data request - please export", DATA_REQUEST),
        ("privacy", "DATA-REQUEST", DATA_REQUEST),
        ("privacy", "This account belongs to a minor", MINOR_REPORT),
        ("privacy", "my son is under 18 and signed up", MINOR_REPORT),
        ("privacy", "a question about cookies", SUPPORT),
        ("support", "data request", SUPPORT),  # only the privacy address files requests
        ("support", "help", SUPPORT),
        ("other", "data request", ""),
    ],
)
def test_each_message_goes_where_the_policy_says(to: str, subject: str, route: str) -> None:
    address = {
        "privacy": settings.PRIVACY_EMAIL,
        "support": settings.SUPPORT_EMAIL,
        "other": "someone@example.test",
    }[to]
    assert route_name(message(address, subject)) == route


def test_every_route_has_a_handler() -> None:
    assert {DATA_REQUEST, MINOR_REPORT, SUPPORT} <= set(HANDLERS)
