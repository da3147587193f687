"""Day-to-day operations on a provisioned server. Each command lands in the job log."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from mailpanel.names import domain_to_ascii
from mailpanel.servers.facts import health
from mailpanel.servers.mailstack import SIGNING_TABLE
from mailpanel.servers.ssh import Remote, SshError
from mailpanel.servers.sshloop import EventSink

SERVICES = ("postfix", "opendkim", "dovecot")
QUEUE_ID_RE = re.compile(r"^[0-9A-Za-z]{5,20}$")
QUEUE_ACTIONS = {"list", "flush", "delete", "hold", "release"}
POSTSUPER_FLAG = {"delete": "-d", "hold": "-h", "release": "-H"}
MAX_LOG_LINES = 2000
CERT_WARN_DAYS = 14


class OperationRefused(SshError):
    pass


async def health_check(remote: Remote, sink: EventSink) -> dict[str, Any]:
    result = await health(remote)
    problems = [
        f"{name} is {state}" for name, state in result["services"].items() if state != "active"
    ]
    if int(result.get("disk_used_pct", 0)) >= 90:
        problems.append(f"disk {result['disk_used_pct']}% full")
    expires = result.get("cert_expires_at")
    if expires and datetime.fromisoformat(expires) < datetime.now(UTC) + timedelta(
        days=CERT_WARN_DAYS
    ):
        problems.append(f"TLS certificate expires {expires[:10]}")
    result["problems"] = problems
    result["healthy"] = not problems
    for name, state in result["services"].items():
        sink.log(f"{name}: {state}", "info" if state == "active" else "error")
    sink.log(f"queue: {result.get('queue', '?')} message(s); disk {result.get('disk_used_pct')}%")
    if expires:
        sink.log(f"certificate valid until {expires[:10]}")
    return result


async def queue_action(remote: Remote, sink: EventSink, action: str, queue_id: str) -> None:
    if action not in QUEUE_ACTIONS:
        raise OperationRefused(f"Unknown queue action {action!r}.")
    if action == "list":
        await _list_queue(remote, sink)
        return
    if action == "flush":
        await remote.run(["postqueue", "-f"])
        sink.log("Asked Postfix to retry every deferred message now.")
        return
    if queue_id != "ALL" and not QUEUE_ID_RE.match(queue_id):
        raise OperationRefused("A queue id is letters and digits, as shown in the queue list.")
    await remote.run(["postsuper", POSTSUPER_FLAG[action], queue_id])
    sink.log(f"{action}: {queue_id} done.", "changed")


async def _list_queue(remote: Remote, sink: EventSink) -> None:
    result = await remote.run(["postqueue", "-j"])
    entries = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    sink.log(f"{len(entries)} message(s) in the queue.")
    for entry in entries[:500]:
        recipients = ", ".join(r.get("address", "") for r in entry.get("recipients", []))
        reason = "; ".join(
            r.get("delay_reason", "") for r in entry.get("recipients", []) if r.get("delay_reason")
        )
        sink.log(
            f"{entry.get('queue_id')} [{entry.get('queue_name')}] {entry.get('sender')} → "
            f"{recipients} ({entry.get('message_size')} bytes){' — ' + reason if reason else ''}"
        )


async def mail_log(remote: Remote, sink: EventSink, lines: int, pattern: str) -> None:
    lines = max(1, min(MAX_LOG_LINES, lines))
    # The filter is applied here, never on the server: it is the owner's text.
    result = await remote.run(
        ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(lines * 5), "SYSLOG_FACILITY=2"],
        quiet=False,
    )
    rows = [row for row in result.stdout.splitlines() if pattern.lower() in row.lower()]
    for row in rows[-lines:]:
        sink.log(row)
    sink.log(f"{min(len(rows), lines)} line(s) shown.")


async def restart(remote: Remote, sink: EventSink, service: str) -> None:
    if service not in SERVICES:
        raise OperationRefused(f"The panel restarts only {', '.join(SERVICES)}.")
    await remote.run(["systemctl", "restart", service])
    state = await remote.run(["systemctl", "is-active", service], check=False)
    sink.log(f"{service} is {state.stdout.strip()}", "changed")
    if state.stdout.strip() != "active":
        raise SshError(f"{service} did not come back after the restart.")


async def _refuse_unsigned(remote: Remote, domain: str) -> None:
    """A test message proves signing: it never leaves unsigned (Postfix passes mail on
    unsigned while OpenDKIM is down, and this server may not have the domain's key yet)."""
    state = await remote.run(["systemctl", "is-active", "opendkim"], check=False)
    if state.stdout.strip() != "active":
        raise OperationRefused(
            f"OpenDKIM is {state.stdout.strip() or 'not running'} on this server, so the "
            "message would go out unsigned. Restart it (or converge), then send again."
        )
    table = await remote.run(["cat", "--", SIGNING_TABLE], check=False)
    patterns = {line.split()[0].lower() for line in table.stdout.splitlines() if line.split()}
    if f"*@{domain}" not in patterns:
        raise OperationRefused(
            f"This server does not sign mail from {domain} yet: converge it (Provision on "
            "the server's page), then send again."
        )


def test_message(sender: str, recipient: str, hostname: str) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = "MailPanel Pro test message"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    msg.set_content(
        f"This is a test message from {hostname}, sent by MailPanel Pro.\n"
        "If it arrived with a DKIM signature that verifies, the server is set up.\n"
    )
    return msg.as_string()


async def send_test(remote: Remote, sink: EventSink, sender: str, recipient: str) -> None:
    await _refuse_unsigned(remote, domain_to_ascii(sender.rsplit("@", 1)[1]))
    hostname = (await remote.run(["hostname"], quiet=True)).stdout.strip()
    message = test_message(sender, recipient, hostname)
    await remote.run(["/usr/sbin/sendmail", "-i", "-f", sender, "--", recipient], input=message)
    sink.log(f"Handed to Postfix: {sender} → {recipient}", "changed")
