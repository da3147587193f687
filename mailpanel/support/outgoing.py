"""What support sends: acknowledgements and staff replies, threaded, their delivery recorded.

An outgoing message is stored (queued, with the Message-ID it will carry) before it is sent,
so an SMTP failure loses nothing: the row says failed and why, and staff can send it again.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from mailpanel.mail import send_templated
from mailpanel.support.models import Delivery, Direction, SupportMessage, Thread

log = structlog.get_logger(__name__)

ACKNOWLEDGEMENT = "mail/support_acknowledgement"
REPLY = "mail/support_reply"
STAFF_NOTICE = "mail/support_staff"
ORIGINS = {"form": "from the contact form", "mail": "by mail", "page": "on the thread's page"}
MAX_REFERENCES = 10  # the first and the latest: enough to thread, short enough to fold


def subject_of(message: SupportMessage) -> str:
    thread = message.thread
    if message.automatic:
        # Nothing the sender wrote: the address is unproven, and an acknowledgement that
        # echoed their words would let anyone mail anyone through us.
        return f"[{thread.reference}] We received your message"
    return f"Re: [{thread.reference}] {thread.subject}"


def threading_of(message: SupportMessage) -> tuple[str, list[str]]:
    """(In-Reply-To, References before it): the last incoming message before ``message``,
    and the thread's Message-IDs before that one, oldest first."""
    earlier = list(
        message.thread.messages.filter(id__lt=message.id)
        .exclude(message_id="")
        .order_by("id")
        .values_list("direction", "message_id")
    )
    incoming = [i for i, (direction, _) in enumerate(earlier) if direction == Direction.IN]
    if not incoming:
        return "", []
    parent = incoming[-1]
    chain = list(dict.fromkeys(mid for _, mid in earlier[:parent] if mid != earlier[parent][1]))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return earlier[parent][1], chain


def thread_url(thread: Thread) -> str:
    """The thread's page for its owner, or "" when no account owns it."""
    if thread.owner_id is None:
        return ""
    return settings.PUBLIC_URL.rstrip("/") + reverse("support_thread", args=[thread.pk])


def deliver(message_pk: int) -> SupportMessage:
    """Send one stored outgoing message and record how it went; never raises for SMTP."""
    message = SupportMessage.objects.select_related("thread").get(pk=message_pk)
    thread = message.thread
    in_reply_to, references = threading_of(message)
    context = {"thread": thread, "message": message, "thread_url": thread_url(thread)}
    try:
        send_templated(
            [thread.email],
            subject_of(message),
            ACKNOWLEDGEMENT if message.automatic else REPLY,
            context,
            automatic=message.automatic,
            reply_to=[settings.SUPPORT_EMAIL],
            in_reply_to=in_reply_to,
            references=references,
            message_id=message.message_id,
        )
    except (OSError, ValueError) as exc:  # SMTP and socket errors; a refused address
        message.delivery = Delivery.FAILED
        message.delivery_error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("support: sending failed", message=message.pk, thread=str(thread.pk))
    else:
        message.delivery, message.delivery_error = Delivery.SENT, ""
        message.sent_at = timezone.now()
    message.save(update_fields=["delivery", "delivery_error", "sent_at"])
    return message


def tell_staff(message_pk: int, origin: str) -> bool:
    """Mail STAFF_NOTICES_TO that a message came in, with the link to the thread and none
    of its words (they stay behind the staff pages' second factor); whether it was sent."""
    if not settings.STAFF_NOTICES_TO:
        log.warning("support: staff not told of a message", reason="STAFF_NOTICES_TO is empty")
        return False
    message = SupportMessage.objects.select_related("thread").get(pk=message_pk)
    thread = message.thread
    url = settings.PUBLIC_URL.rstrip("/") + reverse("admin:support_thread_change", args=[thread.pk])
    context = {"thread": thread, "message": message, "origin": ORIGINS[origin], "url": url}
    try:
        send_templated(
            list(settings.STAFF_NOTICES_TO),
            f"[{thread.reference}] New support message",
            STAFF_NOTICE,
            context,
        )
    except (OSError, ValueError):
        log.warning("support: staff not told of a message", reason="mail server unreachable")
        return False
    return True
