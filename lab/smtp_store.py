"""The SMTP receiver's message log: one SQLite row per received message, and its readers."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from lab.mailauth import Verdicts

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    peer TEXT NOT NULL,
    helo TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    tls INTEGER NOT NULL,
    raw BLOB NOT NULL,
    headers TEXT NOT NULL,
    spf TEXT NOT NULL,
    spf_detail TEXT NOT NULL,
    dkim TEXT NOT NULL,
    dkim_domain TEXT,
    dkim_selector TEXT,
    dmarc TEXT NOT NULL,
    dmarc_policy TEXT,
    header_from TEXT,
    auth_results TEXT NOT NULL
);
"""

Message = dict[str, Any]


def connect(db_path: str | Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(db_path), timeout=5.0)
    db.row_factory = sqlite3.Row
    return db


def init_db(db_path: str | Path) -> None:
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    db = connect(db_path)
    try:
        db.execute("PRAGMA journal_mode = WAL")  # tests read while the receiver writes
        db.executescript(SCHEMA)
    finally:
        db.close()


def header_pairs(raw: bytes) -> list[list[str]]:
    """All header fields in order, duplicates kept (Received, DKIM-Signature...)."""
    return [[name, str(value)] for name, value in BytesHeaderParser().parsebytes(raw).items()]


def store_message(
    db_path: str | Path,
    envelope: dict[str, Any],
    raw: bytes,
    verdicts: Verdicts,
    authserv_id: str,
) -> int:
    """Insert one message; `envelope` has peer, helo, mail_from, rcpt_to, tls."""
    row = {
        "received_at": time.time(),
        **{k: envelope[k] for k in ("peer", "helo", "mail_from")},
        "rcpt_to": json.dumps(envelope["rcpt_to"]),
        "tls": int(bool(envelope["tls"])),
        "raw": raw,
        "headers": json.dumps(header_pairs(raw)),
        "spf": verdicts.spf,
        "spf_detail": verdicts.spf_detail,
        "dkim": verdicts.dkim.result,
        "dkim_domain": verdicts.dkim.domain,
        "dkim_selector": verdicts.dkim.selector,
        "dmarc": verdicts.dmarc.result,
        "dmarc_policy": verdicts.dmarc.policy,
        "header_from": verdicts.from_domain,
        "auth_results": verdicts.authentication_results(authserv_id),
    }
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    db = connect(db_path)
    try:
        with db:
            sql = f"INSERT INTO messages ({columns}) VALUES ({marks})"  # noqa: S608
            cursor = db.execute(sql, tuple(row.values()))
        return int(cursor.lastrowid or 0)
    finally:
        db.close()


def _decode(row: sqlite3.Row) -> Message:
    message = dict(row)
    message["rcpt_to"] = json.loads(message["rcpt_to"])
    message["headers"] = json.loads(message["headers"])
    message["tls"] = bool(message["tls"])
    return message


def messages(db_path: str | Path, rcpt: str | None = None) -> list[Message]:
    """Received messages, oldest first; with `rcpt`, only those addressed to it."""
    if not Path(db_path).exists():
        return []
    db = connect(db_path)
    try:
        rows = [_decode(row) for row in db.execute("SELECT * FROM messages ORDER BY id")]
    except sqlite3.OperationalError:
        return []  # the receiver has not created its table yet
    finally:
        db.close()
    if rcpt is None:
        return rows
    wanted = rcpt.lower()
    return [m for m in rows if wanted in (r.lower() for r in m["rcpt_to"])]


def wait_for_message(
    db_path: str | Path,
    predicate: Callable[[Message], bool] | None = None,
    timeout: float = 10.0,
) -> Message:
    """The first received message matching `predicate` (any if None); TimeoutError if none
    arrives within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in messages(db_path) if predicate is None or predicate(m)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no matching message in {db_path} after {timeout} s")
        time.sleep(0.05)


def header(message: Message, name: str) -> str | None:
    """The first value of a header of a received message, or None."""
    for field_name, value in message["headers"]:
        if str(field_name).lower() == name.lower():
            return str(value)
    return None
