"""Mail to the panel's own addresses: 1,000 messages from 10 concurrent SMTP senders."""

from __future__ import annotations

import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from bench.notices.peers import HOST


@dataclass(frozen=True)
class Delivered:
    sent: int  # answered 250
    refused: int  # answered otherwise, or the connection failed
    seconds: float  # the first connection to the last answer


def message(sender: int, n: int, to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Sender {sender} <sender{sender}@example.test>"
    mail["To"] = to
    mail["Subject"] = f"Question {n} from sender {sender}"
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<bench-{sender}-{n}@example.test>"
    mail.set_content(f"Hello,\n\nthis is message {n} of sender {sender}.\n" + "Some text.\n" * 20)
    return mail.as_bytes()


def _send_many(port: int, sender: int, count: int, addresses: list[str]) -> tuple[int, int]:
    sent = refused = 0
    with smtplib.SMTP(HOST, port, timeout=60) as smtp:
        for n in range(count):
            to = addresses[n % len(addresses)]
            try:
                smtp.sendmail(f"sender{sender}@example.test", [to], message(sender, n, to))
            except smtplib.SMTPException:
                refused += 1
            else:
                sent += 1
    return sent, refused


def deliver(port: int, addresses: list[str], total: int, senders: int) -> Delivered:
    each = total // senders
    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        done = list(pool.map(lambda s: _send_many(port, s, each, addresses), range(senders)))
    seconds = time.perf_counter() - started
    return Delivered(sum(s for s, _ in done), sum(r for _, r in done), round(seconds, 2))
