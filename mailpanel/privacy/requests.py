"""Data requests: filed in the panel or by mail, confirmed by the account, answered in 30 days.

Who is asking decides where a request starts. Signed in, the requester is the account:
the request is OPEN at once. By mail, the From address proves nothing (anyone can write
it), so a request from an account's address waits for a signed, expiring link that must be
opened signed in as that account; a request from any other address waits for staff to
verify the identity. Nothing is fulfilled before the request is OPEN.

Every change of state writes a :class:`RequestEvent`; mail goes out after the commit.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.routing import our_addresses
from mailpanel.mail import send_templated
from mailpanel.privacy import limits
from mailpanel.privacy.models import DataRequest, RequestEvent, RequestKind, RequestState
from mailpanel.privacy.request_clock import business_due_for, due_for

log = structlog.get_logger(__name__)

DETAILS_MAX = 5000
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone
REFERENCE_LENGTH = 6
CONFIRM_SALT = "mailpanel.privacy.data-request-confirmation"
CONFIRM_MAX_AGE = timedelta(days=7)
CLOSED_STATES = (RequestState.FULFILLED, RequestState.REFUSED)

# Checked in this order, the subject before the body: the first that matches decides.
KIND_KEYWORDS: tuple[tuple[RequestKind, re.Pattern[str]], ...] = (
    (RequestKind.EXPORT, re.compile(r"\b(export|cop(y|ies)|portab)", re.IGNORECASE)),
    (RequestKind.DELETION, re.compile(r"\b(delet|eras)", re.IGNORECASE)),
    (RequestKind.CORRECTION, re.compile(r"\bcorrect", re.IGNORECASE)),
    (RequestKind.RESTRICTION, re.compile(r"\b(restrict|paus)", re.IGNORECASE)),
    (RequestKind.OBJECTION, re.compile(r"\bobject", re.IGNORECASE)),
    (RequestKind.ACCESS, re.compile(r"\baccess", re.IGNORECASE)),
)


class ConfirmationRefused(Exception):
    """A confirmation link that does nothing; the text is for the person who opened it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- the audit trail --------------------------------------------------------------------


def staff_label(staff: User) -> str:
    return f"staff {staff.email}"[:200]


def record(
    req: DataRequest, action: str, actor: User | None = None, note: str = "", label: str = ""
) -> None:
    """One line of the audit trail; ``label`` says in which role ``actor`` acted."""
    label = label or ("requester" if actor is not None else "panel")
    RequestEvent.objects.create(
        request=req, actor=actor, actor_label=label, action=action[:64], note=note[:500]
    )


def move(
    req: DataRequest,
    to: RequestState,
    actor: User | None,
    action: str,
    note: str = "",
    *,
    allowed_from: tuple[str, ...],
    label: str = "",
    **changes: Any,
) -> DataRequest:
    """Change the state of ``req`` (locked) if it is in ``allowed_from``; else ValueError."""
    with transaction.atomic():
        locked = DataRequest.objects.select_for_update().get(pk=req.pk)
        if locked.state not in allowed_from:
            raise ValueError(f"{locked.reference} is {locked.get_state_display().lower()}")
        locked.state = to
        if to in CLOSED_STATES:
            locked.closed_at = timezone.now()
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save()
        record(locked, action, actor, note, label)
    return locked


# --- mail to the requester --------------------------------------------------------------


def mail_requester(
    req: DataRequest, subject: str, template: str, context: dict[str, Any], *, automatic: bool
) -> bool:
    """Send one message to the requester now (call after commit); the outcome is audited."""
    if not req.email:
        return False
    inbound = InboundMessage.objects.filter(pk=req.inbound_id).first() if req.inbound_id else None
    try:
        send_templated(
            [req.email],
            f"{subject} [{req.reference}]",
            template,
            {"req": req, "privacy_email": settings.PRIVACY_EMAIL, **context},
            automatic=automatic,
            reply_to=[settings.PRIVACY_EMAIL],
            in_reply_to=inbound.message_id if inbound else "",
        )
    except OSError as exc:
        log.warning("data request mail not sent", reference=req.reference, error=str(exc))
        record(req, "mail failed", note=f"{subject}: {exc}")
        return False
    record(req, "mail sent", note=subject)
    return True


def after_commit(send: Callable[[], object]) -> None:
    transaction.on_commit(send, robust=True)


def acknowledge(req: DataRequest) -> None:
    """The first answer: the reference, the due date and what happens next."""
    if req.channel == "mail" and not limits.take("ack", req.email):
        record(req, "acknowledgement held back", note="more than 5 to this address in an hour")
        return
    confirm_url = ""
    if req.state == RequestState.AWAITING_CONFIRMATION:
        path = reverse("privacy_request_confirm", args=[confirmation_token(req)])
        confirm_url = settings.PUBLIC_URL.rstrip("/") + path
    context = {
        "business_due": business_due_for(req.received_at),
        "confirm_url": confirm_url,
        "confirm_days": CONFIRM_MAX_AGE.days,
    }
    subject = "We received your data request"
    mail_requester(req, subject, "mail/request_acknowledgement", context, automatic=True)


# --- filing -----------------------------------------------------------------------------


def new_reference() -> str:
    while True:
        code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        reference = f"DR-{code}"
        if not DataRequest.objects.filter(reference=reference).exists():
            return reference


def _create(action: str, note: str, actor: User | None, **fields: Any) -> DataRequest:
    received_at = fields.pop("received_at", None) or timezone.now()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                req = DataRequest.objects.create(
                    reference=new_reference(),
                    received_at=received_at,
                    due_at=due_for(received_at),
                    **fields,
                )
                record(req, action, actor, note)
                return req
        except IntegrityError:
            inbound = fields.get("inbound")
            if inbound is not None and DataRequest.objects.filter(inbound=inbound).exists():
                raise  # the same message, filed a moment ago: the caller returns that one
    raise RuntimeError("no free data request reference after 5 tries")


def file_in_panel(user: User, kind: str, details: str) -> DataRequest:
    """A signed-in user's request: their identity is verified, the clock runs now."""
    with transaction.atomic():
        req = _create(
            "filed in the panel",
            "signed in: identity verified",
            user,
            user=user,
            email=user.email,
            kind=RequestKind(kind),
            details=details[:DETAILS_MAX],
            channel="panel",
            state=RequestState.OPEN,
            confirmed_at=timezone.now(),
        )
        after_commit(partial(acknowledge, req))
    return req


def guess_kind(subject: str, body: str) -> RequestKind:
    for text in (subject, body):
        for kind, pattern in KIND_KEYWORDS:
            if pattern.search(text):
                return kind
    return RequestKind.OTHER


def account_for(address: str) -> User | None:
    """The active account whose address this is, if any."""
    if not address:
        return None
    return User.objects.filter(
        email__iexact=address, is_active=True, deletion_requested_at__isnull=True
    ).first()


def file_from_mail(message: InboundMessage) -> None:
    """The inbound handler for ``routing.DATA_REQUEST``: one request per message, acked."""
    if DataRequest.objects.filter(inbound=message).exists():
        return  # delivered or routed twice: filed once
    address = (message.from_address or message.mail_from).strip()
    if address.lower() in our_addresses():
        log.warning("data request from our own address ignored", inbound=str(message.pk))
        return
    user = account_for(address)
    state = RequestState.AWAITING_CONFIRMATION if user else RequestState.IDENTITY_NOT_VERIFIED
    note = (
        "from the account's address: awaiting the account holder's signed-in confirmation"
        if user
        else "from an address of no account: identity not verified"
    )
    try:
        req = _create(
            "received by mail",
            note,
            None,
            user=user,
            email=user.email if user else address,
            kind=guess_kind(message.subject, message.text_body),
            details=_mail_details(message),
            channel="mail",
            inbound=message,
            state=state,
            received_at=message.received_at,
        )
    except IntegrityError:
        return
    after_commit(partial(acknowledge, req))


def _mail_details(message: InboundMessage) -> str:
    text = f"Subject: {message.subject}\n\n{message.text_body.strip()}"
    return text[:DETAILS_MAX]


# --- the confirmation link ----------------------------------------------------------------


def confirmation_token(req: DataRequest) -> str:
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign(str(req.pk))


def request_for_token(token: str) -> DataRequest:
    signer = signing.TimestampSigner(salt=CONFIRM_SALT)
    try:
        pk = signer.unsign(token, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ConfirmationRefused(
            f"This confirmation link has expired: links work for {CONFIRM_MAX_AGE.days} days. "
            "Nothing was changed. You can make the request again from Your data.",
            status=410,
        ) from exc
    except signing.BadSignature as exc:
        raise ConfirmationRefused("This confirmation link is not valid.") from exc
    req = DataRequest.objects.filter(pk=pk).first()
    if req is None:
        raise ConfirmationRefused("This request no longer exists.", status=404)
    return req


def _check_confirmer(req: DataRequest, user: User) -> None:
    if req.user_id != user.pk:
        raise ConfirmationRefused(
            "This request was made for another account than the one you are signed in as. "
            "Nothing was changed: sign out, then open the link again signed in as the account "
            "that received it.",
            status=403,
        )
    if req.state != RequestState.AWAITING_CONFIRMATION:
        raise ConfirmationRefused(
            f"Request {req.reference} is {req.get_state_display().lower()}: "
            "there is nothing to confirm.",
            status=409,
        )


def pending_confirmation(token: str, user: User) -> DataRequest:
    """The request this link confirms, if ``user`` may confirm it now; else refused."""
    req = request_for_token(token)
    _check_confirmer(req, user)
    return req


def confirm(token: str, user: User) -> DataRequest:
    """The account holder, signed in, says the request by mail is theirs: OPEN."""
    req = pending_confirmation(token, user)
    try:
        return move(
            req,
            RequestState.OPEN,
            user,
            "confirmed by the account holder",
            "signed in as the account",
            allowed_from=(RequestState.AWAITING_CONFIRMATION,),
            confirmed_at=timezone.now(),
        )
    except ValueError as exc:  # confirmed on another tab a moment ago
        raise ConfirmationRefused(str(exc), status=409) from exc


def disown(token: str, user: User) -> DataRequest:
    """The account holder, signed in, says they never asked: refused, nothing done."""
    req = pending_confirmation(token, user)
    try:
        return move(
            req,
            RequestState.REFUSED,
            user,
            "refused",
            "the account holder, signed in, says they did not make it",
            allowed_from=(RequestState.AWAITING_CONFIRMATION,),
            reply="The account holder said they did not make this request. Nothing was done.",
        )
    except ValueError as exc:
        raise ConfirmationRefused(str(exc), status=409) from exc
