"""Reading received mail: which thread a reply belongs to, who wrote it, and whether an
acknowledgement would start a mail loop."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from mailpanel.accounts.models import User
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.parse import html_to_text
from mailpanel.inbound.routing import our_addresses
from mailpanel.inbound.store import raw_path
from mailpanel.support.models import REFERENCE_IN_SUBJECT, SUBJECT_MAX, SupportMessage, Thread

# Mail from these never gets an answer (RFC 3834: bounces and list software).
ROBOT_LOCAL_PARTS = {"mailer-daemon", "postmaster", "listserv", "majordomo"}
BULK_PRECEDENCE = {"bulk", "junk", "list"}


def sender_of(message: InboundMessage) -> str:
    """The correspondent's address: the From header's, else the envelope sender's."""
    return (message.from_address or message.mail_from.strip("<>")).strip()


def body_of(message: InboundMessage) -> str:
    """The text we keep and show: the text part, else the sanitised HTML read as text."""
    text = message.text_body or html_to_text(message.html_body)
    return text.replace("\x00", "")


def subject_of(message: InboundMessage) -> str:
    return " ".join(message.subject.split())[:SUBJECT_MAX] or "(no subject)"


def thread_for_reply(message: InboundMessage) -> Thread | None:
    """The thread ``message`` answers, or None when it starts a new one."""
    ids = message.reference_ids
    if ids:
        known = SupportMessage.objects.filter(message_id__in=ids).exclude(inbound=message)
        hit = known.select_related("thread").order_by("-id").first()
        if hit is not None:
            # A Message-ID of ours is random: whoever quotes one received our mail.
            return hit.thread
    sender = sender_of(message).lower()
    for match in REFERENCE_IN_SUBJECT.finditer(message.subject):
        thread = Thread.objects.filter(reference=match[1].upper()).first()
        # A reference alone is six characters anyone can read on a forwarded mail, a
        # screenshot or guess; whoever joins a thread has their words shown to its owner
        # and answered by staff as the owner's. So only the thread's own correspondent
        # joins by subject; another address opens a thread of its own (its subject keeps
        # the reference, so staff see what it refers to).
        if thread is not None and sender and thread.email.lower() == sender:
            return thread
    return None


def account_of(address: str) -> User | None:
    """The active account whose verified email is ``address``. The From header can be
    forged: the thread lands in that account, where only its owner reads it."""
    if not address:
        return None
    return User.objects.filter(
        is_active=True,
        email__iexact=address,
        emailaddress__email__iexact=address,
        emailaddress__verified=True,
    ).first()


def panel_addresses() -> set[str]:
    ours = {parseaddr(settings.DEFAULT_FROM_EMAIL)[1], parseaddr(settings.SERVER_EMAIL)[1]}
    return our_addresses() | {a.lower() for a in ours if a}


def may_acknowledge(message: InboundMessage) -> bool:
    """False for mail an automatic answer must not go to (RFC 3834): our own addresses (a
    loop between two of them), bounces (empty envelope sender), robots, and mail that says
    it is automatic or bulk."""
    address = sender_of(message).lower()
    try:
        validate_email(address)
    except ValidationError:
        return False
    if address in panel_addresses() or address.partition("@")[0] in ROBOT_LOCAL_PARTS:
        return False
    if message.mail_from.strip("<> ") == "":
        return False
    return not says_automatic(raw_headers(message))


def raw_headers(message: InboundMessage) -> Message | None:
    """The headers as received (the row keeps only some), or None without the raw file."""
    if not message.raw_file:
        return None
    try:
        with raw_path(message).open("rb") as raw:
            return BytesHeaderParser().parse(raw)
    except OSError:
        return None


def says_automatic(headers: Message | None) -> bool:
    if headers is None:
        return False
    auto = str(headers.get("Auto-Submitted", "no")).split(";")[0].strip().lower()
    precedence = str(headers.get("Precedence", "")).strip().lower()
    suppress = str(headers.get("X-Auto-Response-Suppress", "")).lower()
    return (
        auto != "no"
        or precedence in BULK_PRECEDENCE
        or "list-id" in {k.lower() for k in headers}
        or any(word in suppress for word in ("all", "autoreply", "oof"))
    )
