"""Who takes a received message: the features above register a handler by name.

``mailpanel.inbound`` stays on the ground floor: privacy (data requests) and support
(threads) register here in their ``AppConfig.ready`` instead of being imported from here.

The rule (issue "Requests, notices and correspondence"): mail to the privacy address about
a minor ("minor", "under 18" in the subject) is a minor report; mail to the privacy address
whose subject contains "data request" (any case, any spacing) is a data request; every other
message to the privacy or support address is support correspondence, and a reply joins its
thread (the support handler finds the thread from ``reference_ids`` or a reference in the
subject). Mail to one of the panel's bounce addresses (``mailpanel.mail.bounce_address``) is
a bounce: the privacy app records it on the notice it names, and the message is not kept.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.store import remove_files, stored_files
from mailpanel.mail import bounce_tag

log = logging.getLogger(__name__)

Handler = Callable[[InboundMessage], None]
DATA_REQUEST = "data_request"
SUPPORT = "support"
MINOR_REPORT = "minor_report"
BOUNCE = "bounce"
HANDLERS: dict[str, Handler] = {}
# Routes whose message is removed once its handler took what it needs from it.
DISCARDED: set[str] = set()
_DATA_REQUEST = re.compile(r"data[\s_-]*request", re.IGNORECASE)
# A report that an account belongs to someone under 18 (privacy.minors has the same rule).
_MINOR = re.compile(r"\bminor|under[\s-]*(18|eighteen)\b", re.IGNORECASE)


def register(name: str, handler: Handler, *, keep: bool = True) -> None:
    """``handler`` takes the messages routed to ``name``; with ``keep=False`` each message
    (row and raw file) is deleted once the handler succeeded."""
    HANDLERS[name] = handler
    if keep:
        DISCARDED.discard(name)
    else:
        DISCARDED.add(name)


def our_addresses() -> set[str]:
    return {settings.PRIVACY_EMAIL.lower(), settings.SUPPORT_EMAIL.lower()}


def is_ours(address: str) -> bool:
    """Whether the receiver takes mail for ``address``: ours, or a bounce address of ours."""
    return address.lower() in our_addresses() or bounce_tag(address) is not None


def route_name(message: InboundMessage) -> str:
    """The handler a message goes to, or "" when it is for none of our addresses."""
    rcpts = {r.lower() for r in message.rcpt_to}
    if any(bounce_tag(r) is not None for r in rcpts):
        return BOUNCE
    to_privacy = settings.PRIVACY_EMAIL.lower() in rcpts
    if to_privacy and _MINOR.search(message.subject):
        return MINOR_REPORT
    if to_privacy and _DATA_REQUEST.search(message.subject):
        return DATA_REQUEST
    if rcpts & our_addresses():
        return SUPPORT
    return ""


def route_message(pk: str | uuid.UUID) -> str:
    """Hand a stored message to its handler, once; returns the handler's name ("" if none).

    The row is locked while the handler runs, so the queued task and the sweep never route
    the same message twice. A handler that raises leaves nothing half done (its work is
    rolled back to a savepoint) and the message keeps the error for staff; calling this
    again later tries again.
    """
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().filter(pk=pk).first()
        if message is None:  # deleted before its turn (an account's data erased)
            return ""
        if message.routed_at is not None:
            return message.routed_to
        name = route_name(message)
        handler = HANDLERS.get(name)
        if name and handler is None:
            return _failed(message, f"no handler registered for {name!r}")
        try:
            with transaction.atomic():
                if handler is not None:
                    handler(message)
        except Exception as exc:
            log.exception("inbound: handler %r failed for %s", name, message.pk)
            return _failed(message, f"{name}: {type(exc).__name__}: {exc}")
        log.info("inbound: %s routed to %r", message.pk, name)
        if name in DISCARDED:
            _discard(message)
            return name
        message.routed_to, message.routed_at, message.route_error = name, timezone.now(), ""
        message.save(update_fields=["routed_to", "routed_at", "route_error"])
        return name


def _discard(message: InboundMessage) -> None:
    files = stored_files([message])
    message.delete()
    transaction.on_commit(lambda: remove_files(files))


def _failed(message: InboundMessage, error: str) -> str:
    message.route_error = error[:2000]
    message.save(update_fields=["route_error"])
    return ""


def unrouted(older_than: timedelta) -> list[uuid.UUID]:
    """Messages stored a while ago whose routing never ran (its queued task was lost)."""
    cutoff = timezone.now() - older_than
    return list(
        InboundMessage.objects.filter(
            routed_at__isnull=True, route_error="", received_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
