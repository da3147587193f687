"""What staff do with a data request: verify who asks, fulfil it, or refuse it.

Only an OPEN request is fulfilled: its requester was signed in, confirmed the link signed
in, or was verified by staff with a note. Each action writes its event with the staff
member and mails the requester after the commit.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.privacy.deletion import DeletionDeferred, delete_now
from mailpanel.privacy.exports import request_export
from mailpanel.privacy.models import DataExport, DataRequest, RequestState
from mailpanel.privacy.requests import after_commit, mail_requester, move, record, staff_label

NOT_CLOSED = (
    RequestState.AWAITING_CONFIRMATION,
    RequestState.IDENTITY_NOT_VERIFIED,
    RequestState.OPEN,
)
EXPORT_REPLY = (
    "We are preparing an export of all the data your account holds. A second message with "
    "the download link comes to the account's address as soon as it is ready; the link works "
    "signed in, for 7 days."
)
DELETION_REPLY = (
    "Your account has been deleted: its secrets were destroyed and every record the panel "
    "held about it removed. We keep this request and its history, without a link to the "
    "account, as proof that it was answered."
)
FULFILLED_SUBJECT = "Your data request is fulfilled"
REFUSED_SUBJECT = "Your data request"


class NotFulfillable(Exception):
    """An action staff cannot take on this request now; the text says why."""


def _require_open(req: DataRequest) -> None:
    if req.state != RequestState.OPEN:
        raise NotFulfillable(
            f"{req.reference} is {req.get_state_display().lower()}: only an open request "
            "(its requester's identity verified) can be fulfilled."
        )


def _account(req: DataRequest) -> User:
    _require_open(req)
    user = User.objects.filter(pk=req.user_id).first() if req.user_id else None
    if user is None:
        raise NotFulfillable(f"{req.reference} concerns no account: nothing to export or delete.")
    return user


def _reply_after_commit(req: DataRequest, subject: str) -> None:
    context = {"reply": req.reply}
    after_commit(
        partial(mail_requester, req, subject, "mail/request_reply", context, automatic=False)
    )


def verify_identity(
    req: DataRequest, staff: User, note: str, account: User | None = None
) -> DataRequest:
    """Staff checked who asks (the note says how): the request opens, for ``account``."""
    if not note.strip():
        raise NotFulfillable("Say how the identity was verified.")
    changes: dict[str, object] = {"confirmed_at": timezone.now()}
    if account is not None:
        changes["user"] = account
    linked = f"; linked to account {account.pk}" if account is not None else ""
    try:
        return move(
            req,
            RequestState.OPEN,
            staff,
            "identity verified by staff",
            note.strip() + linked,
            allowed_from=(RequestState.IDENTITY_NOT_VERIFIED,),
            label=staff_label(staff),
            **changes,
        )
    except ValueError as exc:
        raise NotFulfillable(f"{exc}: only an unverified request is verified by staff.") from exc


def fulfil_export(req: DataRequest, staff: User) -> DataExport:
    """Start the account's export (ExportTooSoon when it had one today) and close."""
    user = _account(req)
    with transaction.atomic():
        export = request_export(user)
        try:
            closed = move(
                req,
                RequestState.FULFILLED,
                staff,
                "fulfilled: export",
                f"export {export.pk} started; its link goes to the account's address",
                allowed_from=(RequestState.OPEN,),
                label=staff_label(staff),
                reply=EXPORT_REPLY,
            )
        except ValueError as exc:  # closed by someone else meanwhile: no export either
            raise NotFulfillable(str(exc)) from exc
        _reply_after_commit(closed, FULFILLED_SUBJECT)
    return export


def fulfil_deletion(req: DataRequest, staff: User) -> DataRequest:
    """Delete the account now, as its owner would; the request stays, without the link."""
    user = _account(req)
    record(req, "account deletion started", staff, label=staff_label(staff))
    # Not in one transaction with the close: the deletion commits batch by batch, so a
    # worker killed halfway leaves "started" in the trail and an account already unusable.
    try:
        delete_now(user, actor=staff)
    except DeletionDeferred as exc:
        raise NotFulfillable(str(exc)) from exc
    closed = move(
        req,
        RequestState.FULFILLED,
        staff,
        "fulfilled: account deleted",
        "secrets shredded, every record removed",
        allowed_from=NOT_CLOSED,
        label=staff_label(staff),
        reply=DELETION_REPLY,
    )
    context = {"reply": closed.reply}
    mail_requester(closed, FULFILLED_SUBJECT, "mail/request_reply", context, automatic=False)
    return closed


def fulfil_other(req: DataRequest, staff: User, reply: str) -> DataRequest:
    """Answered by hand (access, correction, objection...): ``reply`` goes to the requester."""
    if not reply.strip():
        raise NotFulfillable("Write the reply the requester receives.")
    _require_open(req)
    with transaction.atomic():
        try:
            closed = move(
                req,
                RequestState.FULFILLED,
                staff,
                "fulfilled",
                reply.strip()[:500],
                allowed_from=(RequestState.OPEN,),
                label=staff_label(staff),
                reply=reply.strip(),
            )
        except ValueError as exc:
            raise NotFulfillable(str(exc)) from exc
        _reply_after_commit(closed, FULFILLED_SUBJECT)
    return closed


def refuse(req: DataRequest, staff: User, reason: str) -> DataRequest:
    """Close without fulfilling; ``reason`` goes to the requester."""
    if not reason.strip():
        raise NotFulfillable("Give the reason the requester receives.")
    with transaction.atomic():
        try:
            closed = move(
                req,
                RequestState.REFUSED,
                staff,
                "refused",
                reason.strip()[:500],
                allowed_from=NOT_CLOSED,
                label=staff_label(staff),
                reply=reason.strip(),
            )
        except ValueError as exc:
            raise NotFulfillable(str(exc)) from exc
        _reply_after_commit(closed, REFUSED_SUBJECT)
    return closed
