"""Bounces of the policy and breach notices: recorded on the notice, never retried.

A notice goes out with a bounce address of its own (``mailpanel.mail.bounce_address``,
tag ``p<id>`` for a policy notice, ``b<id>`` for a breach notice). It bounces in one of two
ways, and both end in the notice's state ``bounced`` with ``bounced_at`` and the reason:

- the receiving server refuses the recipient while we send (a 5xx reply to RCPT TO):
  :func:`permanent_refusal` tells the senders so;
- a server accepts it and gives up later: it sends a delivery status notification
  (RFC 3464, ``multipart/report; report-type=delivery-status``) to the bounce address,
  ``mailpanel inbound`` takes it and :func:`record_bounce` reads it. Only a recipient whose
  ``Action`` is ``failed`` with a 5.x.x ``Status`` counts: a delay notice, an auto-reply or
  anything else that reaches the address changes nothing. The message itself is not kept
  (its route is registered with ``keep=False``).
"""

from __future__ import annotations

import email
import smtplib
from dataclasses import dataclass
from email.message import Message

import structlog
from django.db.models import Model
from django.utils import timezone

from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.parse import one_line
from mailpanel.inbound.store import raw_path
from mailpanel.mail import bounce_tag
from mailpanel.privacy.models import BreachNotice, NoticeState, PolicyNotice

log = structlog.get_logger(__name__)

POLICY, BREACH = "p", "b"
_MODELS: dict[str, type[Model]] = {POLICY: PolicyNotice, BREACH: BreachNotice}
_REASON_LENGTH = 300


def policy_tag(notice: PolicyNotice) -> str:
    return f"{POLICY}{notice.pk}"


def breach_tag(notice: BreachNotice) -> str:
    return f"{BREACH}{notice.pk}"


@dataclass(frozen=True)
class Failure:
    """One recipient a server gave up on for good."""

    recipient: str
    status: str
    diagnostic: str

    @property
    def reason(self) -> str:
        return " ".join(filter(None, (self.status, self.diagnostic)))[:_REASON_LENGTH]


# --- refused while sending ------------------------------------------------------------


def permanent_refusal(exc: BaseException) -> str:
    """The reason when ``exc`` is the server refusing every recipient for good, else ""."""
    if not isinstance(exc, smtplib.SMTPRecipientsRefused) or not exc.recipients:
        return ""
    replies = list(exc.recipients.values())
    if not all(code >= 500 for code, _text in replies):
        return ""
    code, text = replies[0]
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return one_line(f"{code} {reply}")[:_REASON_LENGTH]


# --- a delivery status notification -----------------------------------------------------


def permanent_failures(raw: bytes) -> list[Failure]:
    """The recipients a DSN reports as failed for good; [] for anything that is not one."""
    message = email.message_from_bytes(raw)
    failures: list[Failure] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        # The first block is about the message, each one after it about one recipient.
        recipients = [block for block in blocks[1:] if isinstance(block, Message)]
        failures += [f for block in recipients if (f := _failure(block)) is not None]
    return failures


def _failure(block: Message) -> Failure | None:
    action = _field(block, "Action").lower()
    status = _field(block, "Status")
    if action != "failed" or not status.startswith("5"):
        return None
    recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
    return Failure(
        recipient=recipient.partition(";")[2].strip() or recipient,
        status=status,
        diagnostic=_field(block, "Diagnostic-Code"),
    )


def _field(block: Message, name: str) -> str:
    return one_line(str(block.get(name, "")))


# --- recording --------------------------------------------------------------------------


def record_bounce(message: InboundMessage) -> None:
    """The inbound handler for mail to a bounce address: mark the notice it names."""
    tags = [tag for address in message.rcpt_to if (tag := bounce_tag(address))]
    failures = permanent_failures(raw_path(message).read_bytes())
    if not failures:
        log.info("bounce address: not a permanent failure, nothing recorded", tags=tags)
        return
    for tag in tags:
        mark_bounced(tag, failures[0].reason)


def mark_bounced(tag: str, reason: str) -> bool:
    """Mark the notice a tag names as bounced (once it was sent); whether one changed."""
    model = _MODELS.get(tag[:1])
    if model is None or not tag[1:].isdigit():
        log.warning("bounce for an unknown tag", tag=tag)
        return False
    changed = bool(
        model._default_manager.filter(pk=int(tag[1:]), state=NoticeState.SENT).update(
            state=NoticeState.BOUNCED, bounced_at=timezone.now(), error=reason
        )
    )
    log.info("notice bounced", tag=tag, recorded=changed)
    return changed
