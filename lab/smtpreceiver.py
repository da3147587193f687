"""The lab's receiving mail server: accepts mail, records it with SPF/DKIM/DMARC verdicts.

Verdicts are computed when the message arrives, asking only the lab DNS server, so a test
sees what a real receiver would have concluded from the DNS records the panel published.
STARTTLS is offered (self-signed certificate made at start) but not required.

Failures as real receivers have them, per recipient address: ``refuse`` gets a 550 5.1.1 at
RCPT TO (the sender sees it while sending), ``defer`` a 450 4.2.1 (try later); ``bounce`` is
accepted, recorded and then sent back as a delivery status notification (a mailbox that
turned out not to exist), ``delay`` likewise with a "still retrying" notification; both go
from ``<>`` to the envelope sender through ``relay`` (the sender's MX, which in the lab is
given, not looked up).

Command line (the lab runs it in its own network namespace)::

    python -m lab.smtpreceiver --db var/lab/mail.sqlite3 --listen 10.200.0.3 --port 25 \\
        --dns 10.200.0.2:53 --domains lab,example.com

In-process::

    with SmtpReceiver(db_path, "127.0.0.1", 0, dns=("127.0.0.1", dns_port)) as mx:
        smtplib.SMTP(mx.host, mx.port).sendmail(...)
        message = wait_for_message(db_path, lambda m: m["dkim"] == "pass")
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import smtplib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from lab.dnsserver_loop import LoopThread, serve_until_signalled
from lab.mailauth import LabDns, verdicts
from lab.smtp_bounce import build_dsn, send_dsn
from lab.smtp_store import init_db, store_message
from lab.smtp_store import messages as messages
from lab.smtp_store import wait_for_message as wait_for_message
from lab.smtp_tls import server_context

log = logging.getLogger(__name__)


class RecordingHandler:
    """aiosmtpd handler: accepts recipients (of `domains`, if given) and records each message."""

    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(  # aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.receiver.accepts(address):
            return "550 5.1.1 Recipient domain not handled here"
        if address.lower() in self.receiver.refuse:
            return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"
        if address.lower() in self.receiver.defer:
            return "450 4.2.1 <" + address + ">: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        meta = {
            "peer": str(session.peer[0]) if session.peer else "",
            "helo": session.host_name or "",
            "mail_from": envelope.mail_from or "",
            "rcpt_to": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
        }
        # pyspf, dkimpy, sqlite3 and the DSNs block: keep them off the event loop.
        await asyncio.to_thread(self.receiver.record, meta, raw)
        await asyncio.to_thread(self.receiver.report_failures, meta, raw)
        return "250 2.0.0 Message accepted for delivery"


class SmtpReceiver:
    """The receiver; `dns` is the (address, port) of the lab DNS server; port 0 picks one."""

    def __init__(
        self,
        db_path: str | Path,
        host: str = "127.0.0.1",
        port: int = 25,
        dns: tuple[str, int] = ("127.0.0.1", 53),
        *,
        domains: Iterable[str] | None = None,
        hostname: str = "mx.lab",
        refuse: Iterable[str] = (),
        defer: Iterable[str] = (),
        bounce: Iterable[str] = (),
        delay: Iterable[str] = (),
        relay: tuple[str, int] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.host, self.port = host, port
        self.dns = LabDns(dns[0], dns[1])
        self.domains = {d.lower().rstrip(".") for d in domains} if domains else None
        self.hostname = hostname
        self.refuse = {a.lower() for a in refuse}
        self.defer = {a.lower() for a in defer}
        self.bounce = {a.lower() for a in bounce}
        self.delay = {a.lower() for a in delay}
        if (self.bounce or self.delay) and relay is None:
            raise ValueError("bounce and delay need the relay their notifications go to")
        self.relay = relay
        self.dsns_sent = 0
        self.certificate_pem = ""  # the self-signed STARTTLS certificate, set at start
        self._server: asyncio.Server | None = None
        self._loop_thread: LoopThread | None = None

    def accepts(self, address: str) -> bool:
        if self.domains is None:
            return True
        return address.rpartition("@")[2].lower().rstrip(".") in self.domains

    def record(self, meta: dict[str, Any], raw: bytes) -> int:
        """Compute the verdicts of one message and store it; returns its id."""
        found = verdicts(self.dns, raw, meta["peer"], meta["mail_from"], meta["helo"])
        message_id = store_message(self.db_path, meta, raw, found, self.hostname)
        log.info(
            "lab smtp: #%s from %s: %s",
            message_id,
            meta["mail_from"],
            found.authentication_results(self.hostname),
        )
        return message_id

    def report_failures(self, meta: dict[str, Any], raw: bytes) -> None:
        """Mail a DSN for each recipient of ``bounce`` or ``delay`` (none to ``<>``)."""
        if not meta["mail_from"] or self.relay is None:
            return
        for rcpt in meta["rcpt_to"]:
            address = rcpt.lower()
            if address not in self.bounce and address not in self.delay:
                continue
            dsn = build_dsn(
                raw,
                rcpt,
                meta["mail_from"],
                reporting_mta=self.hostname,
                delayed=address not in self.bounce,
            )
            try:
                send_dsn(self.relay, meta["mail_from"], dsn)
            except (OSError, smtplib.SMTPException):
                # The message stays accepted, as at a real MX whose bounce cannot go out.
                log.exception("lab smtp: the DSN for %s could not be sent", rcpt)
                continue
            self.dsns_sent += 1
            log.info("lab smtp: DSN for %s sent to %s", rcpt, meta["mail_from"])

    async def start_async(self) -> None:
        init_db(self.db_path)
        tls, self.certificate_pem = server_context(self.hostname, self.host)
        handler = RecordingHandler(self)

        def protocol() -> SMTP:
            return SMTP(
                handler,
                hostname=self.hostname,
                tls_context=tls,
                require_starttls=False,
                ident="MailPanel lab SMTP",
            )

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_async(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def start(self) -> SmtpReceiver:
        """Serve from a background thread (for tests); returns self."""
        self._loop_thread = LoopThread("lab-smtp")
        self._loop_thread.start()
        self._loop_thread.call(self.start_async())
        return self

    def stop(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.call(self.stop_async())
            self._loop_thread.stop()
            self._loop_thread = None

    def messages(self, rcpt: str | None = None) -> list[dict[str, Any]]:
        return messages(self.db_path, rcpt)

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def parse_dns(value: str) -> tuple[str, int]:
    """`ADDR` or `ADDR:PORT` (IPv6: `[ADDR]:PORT`) -> (address, port)."""
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        return address, int(rest.lstrip(":") or 53)
    if value.count(":") == 1:
        address, _, port = value.partition(":")
        return address, int(port)
    return value, 53


async def serve_forever(receiver: SmtpReceiver) -> None:
    log.info("lab smtp: listening on %s:%s", receiver.host, receiver.port)
    await serve_until_signalled(receiver)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.smtpreceiver")
    parser.add_argument("--db", required=True, help="SQLite file the messages go to")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--dns", required=True, type=parse_dns, help="lab DNS ADDR[:PORT]")
    parser.add_argument("--domains", default="", help="comma-separated; empty accepts any")
    parser.add_argument("--hostname", default="mx.lab")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    domains = [d for d in args.domains.split(",") if d.strip()] or None
    receiver = SmtpReceiver(
        args.db, args.listen, args.port, args.dns, domains=domains, hostname=args.hostname
    )
    asyncio.run(serve_forever(receiver))


if __name__ == "__main__":
    main()
