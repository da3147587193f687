"""Delivery status notifications as a relaying MTA sends them (RFC 3464), for the lab receiver.

A real MX often accepts a message and only later finds it cannot deliver it (the mailbox is
gone, over quota, the next hop refuses). It then mails a DSN from the null sender ``<>`` to
the message's envelope sender. The lab receiver does the same for the recipients it is told
are unknown (``bounce``) or slow (``delay``), in the shape Postfix uses: a human part, a
``message/delivery-status`` part and the original headers as ``text/rfc822-headers``.
"""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, make_msgid

FAILED = ("failed", "5.1.1", "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown")
DELAYED = ("delayed", "4.4.1", "smtp; 451 4.4.1 Connection timed out")


def build_dsn(
    raw: bytes, rcpt: str, mail_from: str, *, reporting_mta: str, delayed: bool = False
) -> bytes:
    """The DSN for one recipient of the message ``raw`` (sent by ``mail_from``)."""
    action, status, diagnostic = DELAYED if delayed else FAILED
    original = BytesHeaderParser().parsebytes(raw)
    dsn = MIMEMultipart("report", report_type="delivery-status")
    dsn["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    dsn["To"] = mail_from
    dsn["Subject"] = (
        "Delayed Mail (still being retried)" if delayed else "Undelivered Mail Returned to Sender"
    )
    dsn["Date"] = format_datetime(datetime.now(UTC))
    dsn["Message-ID"] = make_msgid(domain=reporting_mta)
    dsn["Auto-Submitted"] = "auto-replied"
    dsn.attach(MIMEText(_human_text(rcpt, reporting_mta, delayed)))
    dsn.attach(_status_part(rcpt, reporting_mta, action, status, diagnostic.format(rcpt=rcpt)))
    headers = Message()
    headers.set_type("text/rfc822-headers")
    headers.set_payload("".join(f"{k}: {v}\n" for k, v in original.items()))
    dsn.attach(headers)
    return dsn.as_bytes(policy=compat32.clone(linesep="\r\n"))


def _human_text(rcpt: str, reporting_mta: str, delayed: bool) -> str:
    if delayed:
        return (
            f"This is the mail system at host {reporting_mta}.\n\n"
            f"Your message to <{rcpt}> could not be delivered yet. It will be retried.\n"
        )
    return (
        f"This is the mail system at host {reporting_mta}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        f"<{rcpt}>: host {reporting_mta} said: 550 5.1.1 User unknown\n"
    )


def _status_part(rcpt: str, mta: str, action: str, status: str, diagnostic: str) -> Message:
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {mta}"
    per_message["Arrival-Date"] = format_datetime(datetime.now(UTC))
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {rcpt}"
    per_recipient["Original-Recipient"] = f"rfc822; {rcpt}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = f"dns; {mta}"
    per_recipient["Diagnostic-Code"] = diagnostic
    part = Message()
    part.set_type("message/delivery-status")
    part.set_payload([per_message, per_recipient])
    return part


def send_dsn(relay: tuple[str, int], mail_from: str, dsn: bytes) -> None:
    """Mail the DSN from the null sender to ``mail_from`` through ``relay`` (host, port)."""
    with smtplib.SMTP(relay[0], relay[1], timeout=30) as smtp:
        smtp.sendmail("<>", [mail_from], dsn)
