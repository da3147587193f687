"""Reports that an account belongs to someone under 18: filed, reviewed, decided.

Anyone may report, on the public form (5 an hour per address) or by mail to the privacy
address. Staff are told of each report and decide: confirmed, the account is deleted as
its owner would delete it, and the report stays as an audit without the minor's data (no
address, no details, no link); dismissed, with a note.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.routing import our_addresses
from mailpanel.mail import send_templated
from mailpanel.privacy import limits
from mailpanel.privacy.deletion import DeletionDeferred, delete_now
from mailpanel.privacy.models import MinorReport, MinorReportState
from mailpanel.privacy.requests import DETAILS_MAX, account_for

log = structlog.get_logger(__name__)

# The name to route mail about minors under (routing.py does not know it yet).
MINOR_REPORT_ROUTE = "minor_report"
SUBJECT = re.compile(r"\bminor|under[\s-]*(18|eighteen)\b", re.IGNORECASE)
ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
TOO_MANY = (
    "We have received 5 reports from your network in the last hour, the most we accept. "
    "Nothing was stored: please try again in an hour, or write to {address}."
)


class ReportRefused(Exception):
    """A report not taken now; the text is for the person sending it."""


class DecisionRefused(Exception):
    """A decision staff cannot take on this report; the text says why."""


def is_about_a_minor(subject: str) -> bool:
    """Mail to the privacy address with this subject is a minor report."""
    return bool(SUBJECT.search(subject))


def report_from_form(
    reported_email: str, reporter_email: str, details: str, ip: str | None
) -> MinorReport:
    if not limits.take("minor-report-ip", ip or "unknown"):
        raise ReportRefused(TOO_MANY.format(address=settings.PRIVACY_EMAIL))
    return _file(reported_email, reporter_email, details, "form")


def report_from_mail(message: InboundMessage) -> None:
    """An inbound handler: the message becomes one report (the sender is the reporter)."""
    sender = (message.from_address or message.mail_from).strip()
    if MinorReport.objects.filter(
        channel="mail", reporter_email=sender[:254], received_at=message.received_at
    ).exists():
        return  # routed twice: filed once
    text = f"Subject: {message.subject}\n\n{message.text_body.strip()}"
    reported = reported_address(f"{message.subject}\n{message.text_body}", sender)
    _file(reported, sender, text, "mail", received_at=message.received_at)


def reported_address(text: str, sender: str) -> str:
    """The account a mail reports: an address in it that is an account, else the first
    address in it, else the sender's own when it is an account (a minor writing)."""
    ours = our_addresses() | {sender.lower()}
    found: list[str] = ADDRESS.findall(text)
    mentioned = [a for a in dict.fromkeys(found) if a.lower() not in ours]
    for address in [*mentioned, sender]:
        if account_for(address) is not None:
            return address[:254]
    return mentioned[0][:254] if mentioned else ""


def _file(
    reported: str,
    reporter: str,
    details: str,
    channel: str,
    received_at: datetime | None = None,
) -> MinorReport:
    with transaction.atomic():
        report = MinorReport.objects.create(
            reported_email=reported.strip(),
            reporter_email=reporter.strip()[:254],
            details=details[:DETAILS_MAX],
            channel=channel,
            user=account_for(reported),
            received_at=received_at or timezone.now(),
        )
        transaction.on_commit(partial(notify_staff, report), robust=True)
    log.info("minor report received", report=report.pk, channel=channel)
    return report


def notify_staff(report: MinorReport) -> None:
    if not settings.STAFF_NOTICES_TO:
        log.warning("minor report not mailed to staff", reason="STAFF_NOTICES_TO is empty")
        return
    url = settings.PUBLIC_URL.rstrip("/") + reverse(
        "admin:privacy_minorreport_change", args=[report.pk]
    )
    context = {"report": report, "url": url, "has_account": report.user_id is not None}
    try:
        send_templated(
            list(settings.STAFF_NOTICES_TO),
            "A report of an account of someone under 18",
            "mail/minor_report_staff",
            context,
        )
    except OSError as exc:
        log.warning("minor report not mailed to staff", error=str(exc))


def _open(report: MinorReport) -> MinorReport:
    locked = MinorReport.objects.select_for_update().get(pk=report.pk)
    if locked.state != MinorReportState.OPEN:
        raise DecisionRefused(f"This report is already {locked.get_state_display().lower()}.")
    return locked


def _account_of(report: MinorReport) -> User:
    user = User.objects.filter(pk=report.user_id).first() if report.user_id else None
    user = user or User.objects.filter(email__iexact=report.reported_email or "-").first()
    if user is None:
        raise DecisionRefused("No account has this address (any more): dismiss the report.")
    if user.is_staff:
        raise DecisionRefused("A staff account is not deleted from a report.")
    return user


def confirm(report: MinorReport, staff: User, note: str) -> None:
    """Delete the account; every open report of it is kept, decided, without its data."""
    if not note.strip():
        raise DecisionRefused("Write the reason for the decision.")
    with transaction.atomic():
        user = _account_of(_open(report))
    address = user.email
    try:
        delete_now(user, actor=staff)
    except DeletionDeferred as exc:
        raise DecisionRefused(str(exc)) from exc
    same = Q(pk=report.pk) | Q(state=MinorReportState.OPEN, reported_email__iexact=address)
    with transaction.atomic():
        reports = MinorReport.objects.filter(same)
        # A minor who reported themselves: their address as the reporter goes too.
        reports.filter(reporter_email__iexact=address).update(reporter_email="")
        reports.update(
            state=MinorReportState.CONFIRMED,
            reported_email="",
            details="",
            user=None,
            decided_by=staff,
            decided_at=timezone.now(),
            decision_note=note.strip()[:500],
        )
    log.info("minor report confirmed: account deleted", report=report.pk)


def dismiss(report: MinorReport, staff: User, note: str) -> None:
    if not note.strip():
        raise DecisionRefused("Write the reason for the decision.")
    with transaction.atomic():
        locked = _open(report)
        locked.state = MinorReportState.DISMISSED
        locked.decided_by, locked.decided_at = staff, timezone.now()
        locked.decision_note = note.strip()[:500]
        locked.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
