"""`python -m bench.notices`: breach notices to 10,000 users, and mail to the panel's addresses.

Measured on SQLite in a fresh data folder, every peer a process of its own on 127.0.0.1
(no lab container, no root):

- breach notices: 10,000 users, an incident for all of them; ``start_sending`` creates
  the notices, then ``send_notices`` runs in a worker process of its own (so its peak RSS,
  VmHWM, is the sending's alone) and mails them over SMTP, 200 per connection, to the lab
  SMTP receiver (``python -m lab.smtpreceiver``). Figures: the messages the receiver
  stored, first to last, per second, the worker's peak RSS;
- the receiver's verdict lookups: asking the discard port (``--dns 127.0.0.1:9``) is not
  fast: UDP to a closed port sends no error back to dnspython, so each of the SPF and
  DMARC lookups waits out the resolver's 3 s. A few messages are timed that way
  (``receiver_seconds_per_message_dns_port9``); the 10,000 go to a receiver asking the
  lab DNS server on loopback with no zones, which answers at once (``--dns-port9`` runs
  them the slow way instead);
- inbound: ``mailpanel inbound`` as a subprocess; 1,000 messages to PRIVACY_EMAIL and
  SUPPORT_EMAIL from 10 concurrent SMTP senders, then the InboundMessage rows counted.

Writes bench/results/notices.json and notices.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.notices.peers import HOST, REPO, free_port, lab_dns, lab_smtp, loopback_only
from bench.privacy.offline import embedded_environment

DATA_DIR = Path(tempfile.mkdtemp(prefix="mailpanel-bench-notices-"))
embedded_environment(str(DATA_DIR))
SMTP_PORT, DNS_PORT, INBOUND_PORT, PROBE_PORT = (free_port() for _ in range(4))
os.environ |= {
    "MAILPANEL_SMTP_HOST": HOST,
    "MAILPANEL_SMTP_PORT": str(SMTP_PORT),
    "MAILPANEL_SMTP_STARTTLS": "false",
}
loopback_only()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import machine, write_json  # noqa: E402
from bench.notices import inbound  # noqa: E402
from bench.notices.peers import panel_inbound  # noqa: E402
from bench.notices.plot import plot  # noqa: E402
from lab.zonestore import ZoneStore  # noqa: E402
from mailpanel.accounts.models import User  # noqa: E402
from mailpanel.inbound.models import InboundMessage  # noqa: E402
from mailpanel.privacy.breach import (  # noqa: E402
    BATCH_SIZE,
    CONNECTIONS,
    count_recipients,
    start_sending,
)
from mailpanel.privacy.breach_clock import Tally, tally  # noqa: E402
from mailpanel.privacy.models import Incident  # noqa: E402

USERS = 10_000
INBOUND_MESSAGES = 1_000
INBOUND_SENDERS = 10
PROBE_MESSAGES = 3
TARGETS = {"breach_seconds": 300.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notices")
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--inbound", type=int, default=INBOUND_MESSAGES)
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="SMTP at once")
    parser.add_argument("--dns-port9", action="store_true", help="verdicts ask 127.0.0.1:9")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    try:
        result, breach_times, inbound_times = run(
            args.users, args.inbound, args.connections, args.dns_port9
        )
        write_json("notices", result)
        plot(result, breach_times, inbound_times)
    finally:
        if not args.keep:
            shutil.rmtree(DATA_DIR, ignore_errors=True)
    for name in HEADLINE:
        print(f"{name:<44} {result[name]}")
    return 0 if all(result["targets_met"].values()) else 1


HEADLINE = (
    "breach_notices",
    "breach_seconds",
    "notices_per_second",
    "worker_seconds",
    "worker_peak_rss_mb",
    "worker_cpu_ms_per_notice",
    "receiver_seconds_per_message_dns_port9",
    "inbound_sent",
    "inbound_stored",
    "inbound_per_second",
    "targets_met",
)


def run(
    users: int, inbound_total: int, connections: int, dns_port9: bool
) -> tuple[dict[str, Any], list[float], list[float]]:
    load_at_start = round(os.getloadavg()[0], 2)
    call_command("migrate", "--no-input", "-v", "0")
    lab = DATA_DIR / "lab"
    lab.mkdir()
    ZoneStore(lab / "zones.sqlite3").close()
    probe = probe_port9(lab)
    print(f"receiver asking 127.0.0.1:9: {probe} s a message")

    with lab_dns(lab / "zones.sqlite3", DNS_PORT, lab / "dns.log"):
        dns_port = 9 if dns_port9 else DNS_PORT
        with lab_smtp(lab / "mail.sqlite3", SMTP_PORT, dns_port, lab / "smtp.log"):
            breach, breach_times = notices(users, connections, lab / "mail.sqlite3")
    print(f"breach: {breach['breach_notices']} in {breach['breach_seconds']} s")

    inbound_figures, inbound_times = inbound_mail(inbound_total, lab / "inbound.log")
    print(f"inbound: {inbound_figures['inbound_stored']} stored")
    result: dict[str, Any] = {
        "benchmark": "notices",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "users": users,
        "receiver_dns": "127.0.0.1:9" if dns_port9 else "lab DNS server on 127.0.0.1, no zones",
        "receiver_seconds_per_message_dns_port9": probe,
        **breach,
        **inbound_figures,
        "targets": TARGETS,
    }
    result["targets_met"] = {
        "breach_seconds": result["breach_seconds"] < TARGETS["breach_seconds"],
        "worker_seconds": result["worker_seconds"] < TARGETS["breach_seconds"],
        "every_notice_delivered_once": result["breach_notices"] == users
        and result["breach_distinct_recipients"] == users,
        "every_inbound_message_stored": result["inbound_stored"] == result["inbound_sent"]
        and result["inbound_sent"] > 0,
    }
    result["machine"] = machine(load_at_start)
    return result, breach_times, inbound_times


def probe_port9(lab: Path) -> float:
    """Seconds a message takes at a receiver whose verdicts ask the discard port."""
    db = lab / "probe.sqlite3"
    raw = b"From: panel@mailpanel.localhost\r\nSubject: probe\r\n\r\nprobe\r\n"
    with lab_smtp(db, PROBE_PORT, 9, lab / "probe.log"), smtplib.SMTP(HOST, PROBE_PORT) as smtp:
        started = time.perf_counter()
        for n in range(PROBE_MESSAGES):
            smtp.sendmail("panel@mailpanel.localhost", [f"probe{n}@example.test"], raw)
        return round((time.perf_counter() - started) / PROBE_MESSAGES, 2)


def notices(users: int, connections: int, mail_db: Path) -> tuple[dict[str, Any], list[float]]:
    unusable = make_password(None)
    User.objects.bulk_create(
        (
            User(email=f"u{n:05d}@example.test", full_name=f"User {n}", password=unusable)
            for n in range(users)
        ),
        batch_size=1000,
    )
    incident = Incident.objects.create(
        title="Bench incident",
        aware_at=timezone.now(),
        what_happened="A benchmark pretended a backup was read.",
        categories=["account", "credentials"],
        audience={"kind": "all"},
        notice_subject="A security incident concerning your account",
        notice_text="We have revoked every token. Please create new API tokens.\n" * 10,
    )
    started = time.perf_counter()
    preview = count_recipients(incident.audience)
    preview_seconds = time.perf_counter() - started
    started = time.perf_counter()
    created = start_sending(incident)
    create_seconds = time.perf_counter() - started
    connection.close()  # SQLite: nothing of ours is open while the worker writes

    worker = run_worker(str(incident.pk), connections)
    received = receiver_figures(mail_db)
    counted = tally(incident)
    figures = {
        "batch_size": BATCH_SIZE,
        "smtp_connections_at_once": connections,
        "preview_recipients": preview,
        "preview_seconds": round(preview_seconds, 3),
        "notices_created": created,
        "notices_create_seconds": round(create_seconds, 2),
        **worker,
        "breach_notices": received["count"],
        "breach_distinct_recipients": received["recipients"],
        "breach_seconds": received["seconds"],
        "notices_per_second": round(received["count"] / max(received["seconds"], 1e-9), 1),
        "notices_sent_in_db": counted.sent,
        "notices_by_state": counted.counts,
        "sent_at_first_to_last_seconds": _spread(counted),
    }
    return figures, received["times"]


def run_worker(incident_id: str, connections: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.notices.send_worker", incident_id, str(connections)],
        env=dict(os.environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the sending worker failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def receiver_figures(mail_db: Path) -> dict[str, Any]:
    db = sqlite3.connect(mail_db)
    try:
        times = [row[0] for row in db.execute("SELECT received_at FROM messages ORDER BY id")]
        recipients = db.execute("SELECT COUNT(DISTINCT rcpt_to) FROM messages").fetchone()[0]
    finally:
        db.close()
    seconds = round(max(times) - min(times), 2) if times else 0.0
    return {"count": len(times), "recipients": recipients, "seconds": seconds, "times": times}


def inbound_mail(total: int, log: Path) -> tuple[dict[str, Any], list[float]]:
    addresses = [settings.PRIVACY_EMAIL, settings.SUPPORT_EMAIL]
    connection.close()
    with panel_inbound(INBOUND_PORT, log):
        delivered = inbound.deliver(INBOUND_PORT, addresses, total, INBOUND_SENDERS)
    stored = InboundMessage.objects.count()
    times = [at.timestamp() for at in InboundMessage.objects.values_list("received_at", flat=True)]
    figures = {
        "inbound_senders": INBOUND_SENDERS,
        "inbound_addresses": addresses,
        "inbound_sent": delivered.sent,
        "inbound_refused": delivered.refused,
        "inbound_seconds": delivered.seconds,
        "inbound_stored": stored,
        "inbound_per_second": round(stored / max(delivered.seconds, 1e-9), 1),
    }
    return figures, times


def _spread(counted: Tally) -> float:
    """First to last ``sent_at`` as the panel recorded them."""
    if counted.first_sent_at is None or counted.last_sent_at is None:
        return 0.0
    return round((counted.last_sent_at - counted.first_sent_at).total_seconds(), 2)


if __name__ == "__main__":
    raise SystemExit(main())
