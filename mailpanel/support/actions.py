"""What support does: open a thread (form or mail), add to it, reply as staff.

Each action owns its transaction; mail goes out only after the commit, from a row already
stored as queued (``outgoing.deliver`` records sent or failed).
"""

from __future__ import annotations

from functools import partial

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction

from mailpanel.accounts.models import User
from mailpanel.inbound.models import InboundMessage
from mailpanel.mail import new_message_id
from mailpanel.support import inbox, limits, outgoing
from mailpanel.support.models import (
    Delivery,
    Direction,
    SupportMessage,
    Thread,
    ThreadState,
    new_reference,
)

log = structlog.get_logger(__name__)

TOO_MANY = (
    f"We have received {limits.PER_HOUR} messages from you (or from this network) in the "
    "last hour, the most we accept. Nothing was stored: please try again in an hour, or "
    "reply to one of our acknowledgements to add to an existing thread."
)


class ContactRefused(Exception):
    """A message support will not take now; the text is for the sender."""


def submit_contact(
    *, email: str, subject: str, body: str, owner: User | None, ip: str | None
) -> Thread:
    """A new thread from the contact form, acknowledged by mail; refused past the limits."""
    if not limits.take(ip, email):
        raise ContactRefused(TOO_MANY)
    with transaction.atomic():
        thread = create_thread(email=email, subject=subject, owner=owner)
        message = add_message(thread, Direction.IN, from_address=email, body=body)
        acknowledge(thread)
        _tell_staff_after_commit(message, "form")
    log.info("support: thread opened from the form", thread=str(thread.pk))
    return thread


def handle_support_mail(message: InboundMessage) -> None:
    """The routing handler: a reply joins its thread, anything else opens one."""
    if SupportMessage.objects.filter(inbound=message).exists():
        return  # routed before (a retry after the handler's work was committed)
    sender = inbox.sender_of(message)
    fields = {
        "from_address": sender,
        "body": inbox.body_of(message),
        "html_body": message.html_body,
        "message_id": message.message_id,
        "inbound": message,
    }
    with transaction.atomic():
        thread = inbox.thread_for_reply(message)
        if thread is not None:
            _tell_staff_after_commit(add_message(thread, Direction.IN, **fields), "mail")
            return
        thread = create_thread(
            email=sender, subject=inbox.subject_of(message), owner=inbox.account_of(sender)
        )
        _tell_staff_after_commit(add_message(thread, Direction.IN, **fields), "mail")
        # The counter after the loop checks: mail we never answer uses up nothing.
        if inbox.may_acknowledge(message) and limits.take_for_address(sender):
            acknowledge(thread)
    log.info("support: thread opened by mail", thread=str(thread.pk))


def add_user_reply(thread: Thread, user: User, body: str) -> SupportMessage:
    """The owner writes on their thread's page: an incoming message, the thread open again."""
    with transaction.atomic():
        message = add_message(thread, Direction.IN, from_address=user.email, body=body)
        _tell_staff_after_commit(message, "page")
        return message


def _tell_staff_after_commit(message: SupportMessage, origin: str) -> None:
    transaction.on_commit(partial(outgoing.tell_staff, message.pk, origin))


def reply_as_staff(thread: Thread, staff: User, body: str) -> SupportMessage:
    """Store the reply as queued, mark the thread answered, send after the commit."""
    with transaction.atomic():
        reply = add_message(
            thread,
            Direction.OUT,
            author=staff,
            from_address=settings.SUPPORT_EMAIL,
            body=body,
            delivery=Delivery.QUEUED,
        )
        transaction.on_commit(partial(outgoing.deliver, reply.pk))
    reply.refresh_from_db()
    return reply


def send_again(message: SupportMessage) -> SupportMessage:
    """Retry a failed outgoing message, with its own Message-ID (a retry, not a new mail)."""
    if message.direction != Direction.OUT or message.delivery != Delivery.FAILED:
        return message
    return outgoing.deliver(message.pk)


def create_thread(*, email: str, subject: str, owner: User | None) -> Thread:
    # A savepoint per try: a reference drawn twice (one in 887 million) draws again.
    for _ in range(5):
        try:
            with transaction.atomic():
                return Thread.objects.create(
                    reference=new_reference(), email=email, subject=subject, owner=owner
                )
        except IntegrityError:
            continue
    raise RuntimeError("could not draw a free thread reference")


def add_message(thread: Thread, direction: Direction, **fields: object) -> SupportMessage:
    """Append a message (a Message-ID of ours unless it brings one) and move the thread on:
    the correspondent writing opens it again, staff replying answers it."""
    fields.setdefault("message_id", new_message_id())
    message = SupportMessage.objects.create(thread=thread, direction=direction, **fields)
    if not fields.get("automatic"):
        thread.state = ThreadState.OPEN if direction == Direction.IN else ThreadState.ANSWERED
    thread.save(update_fields=["state", "updated_at"])
    return message


def acknowledge(thread: Thread) -> SupportMessage:
    """Queue the automatic acknowledgement with the reference; it is sent after commit."""
    ack = add_message(
        thread,
        Direction.OUT,
        automatic=True,
        from_address=settings.SUPPORT_EMAIL,
        body=f"Automatic acknowledgement with the reference {thread.reference}.",
        delivery=Delivery.QUEUED,
    )
    transaction.on_commit(partial(outgoing.deliver, ack.pk))
    return ack
