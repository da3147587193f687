"""SQLite zone store shared by the DNS provider fakes and the lab's authoritative DNS server.

The fakes write zones and records here; the lab DNS server (another process) reads the
same file, so the schema below is a contract: change it only together with that server.
WAL mode lets the server read while a fake writes.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import idna

SCHEMA = """
CREATE TABLE IF NOT EXISTS zones (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    priority INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delegations (
    name TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS static_records (
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    ttl INTEGER NOT NULL DEFAULT 300,
    priority INTEGER
);
CREATE INDEX IF NOT EXISTS records_zone ON records(zone_id, created, id);
CREATE INDEX IF NOT EXISTS records_name ON records(name, type);
CREATE INDEX IF NOT EXISTS static_name ON static_records(name);
"""

RECORD_FIELDS = ("name", "type", "content", "ttl", "priority")

Row = dict[str, Any]


def new_id() -> str:
    """A Cloudflare-like identifier: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def normalize_name(name: str) -> str:
    """Lowercase, no trailing dot, A-labels; underscores and `*` survive (not IDNA-encoded)."""
    name = name.strip().rstrip(".").lower()
    labels = [
        label if label.isascii() else idna.encode(label, uts46=True).decode("ascii")
        for label in name.split(".")
    ]
    return ".".join(labels)


def txt_strings(content: str) -> list[str]:
    """The character-strings of stored TXT content, as the DNS server must put them on the wire.

    Quoted content (`"part1" "part2"`, Cloudflare stores what the client sent) is unquoted;
    bare content is cut into 255-character strings, as the providers do for long DKIM keys.
    """
    text = content.strip()
    if text.startswith('"'):
        parsed = _parse_quoted(text)
        if parsed is not None:
            return parsed
    return [content[i : i + 255] for i in range(0, len(content), 255)] or [""]


def txt_value(content: str) -> str:
    """The TXT value with quoting undone: `"a" "b"` and `ab` compare equal."""
    return "".join(txt_strings(content))


def _parse_quoted(text: str) -> list[str] | None:
    r"""`"a\"b" "c"` -> ['a"b', 'c']; None when the text is not a sequence of quoted strings."""
    strings: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] != '"':
            return None
        i, current = i + 1, []
        while i < len(text) and text[i] != '"':
            if text[i] == "\\" and i + 1 < len(text):
                i += 1
            current.append(text[i])
            i += 1
        if i >= len(text):
            return None  # unterminated string
        strings.append("".join(current))
        i += 1
    return strings


class ZoneStore:
    """Thread-safe store of zones, records, delegations and static lab records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so a batch can span calls.
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=5.0
        )
        self._db.row_factory = sqlite3.Row
        # One connection is shared by all threads: an RLock serialises its use (reads included,
        # so a reader never sees another thread's half-done transaction) and lets a
        # transaction() block call the other write methods.
        self._lock = threading.RLock()
        self._depth = 0
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.execute("PRAGMA journal_mode = WAL")
        # NORMAL is crash-safe in WAL mode and skips an fsync per commit: lab data is disposable.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(SCHEMA)

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ZoneStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[ZoneStore]:
        """All writes inside commit together or not at all (nesting joins the outer one)."""
        with self._lock:
            if self._depth == 0:
                # IMMEDIATE takes the write lock now, so the DNS server's reads stay consistent.
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, args).fetchall()]

    def _next_created(self) -> float:
        """Strictly increasing timestamps, so `created, id` order equals insertion order."""
        rows = self._query("SELECT max(created) AS m FROM records")
        last = rows[0]["m"] or 0.0
        return max(time.time(), float(last) + 1e-6)

    # -- zones --------------------------------------------------------------------------

    def create_zone(
        self, provider: str, account: str, name: str, zone_id: str | None = None
    ) -> Row:
        zone = {
            "id": zone_id or new_id(),
            "provider": provider,
            "account": account,
            "name": normalize_name(name),
            "created": time.time(),
        }
        with self.transaction():
            self._db.execute(
                "INSERT INTO zones (id, provider, account, name, created) VALUES (?, ?, ?, ?, ?)",
                tuple(zone.values()),
            )
            self._db.execute(
                "INSERT OR IGNORE INTO delegations (name, zone_id) VALUES (?, ?)",
                (zone["name"], zone["id"]),
            )
        return zone

    def delete_zone(self, zone_id: str) -> bool:
        """Delete a zone and its records; hand its delegation to the oldest same-named zone."""
        with self.transaction():
            zone = self.zone(zone_id)
            if zone is None:
                return False
            self._db.execute("DELETE FROM records WHERE zone_id = ?", (zone_id,))
            self._db.execute("DELETE FROM zones WHERE id = ?", (zone_id,))
            self._db.execute("DELETE FROM delegations WHERE zone_id = ?", (zone_id,))
            heirs = self._query(
                "SELECT id FROM zones WHERE name = ? ORDER BY created, id LIMIT 1", (zone["name"],)
            )
            if heirs:
                self.delegate(zone["name"], heirs[0]["id"])
        return True

    def zones(self, provider: str | None = None, account: str | None = None) -> list[Row]:
        sql, args = "SELECT * FROM zones WHERE 1=1", list[str]()
        if provider is not None:
            sql, args = sql + " AND provider = ?", [*args, provider]
        if account is not None:
            sql, args = sql + " AND account = ?", [*args, account]
        return self._query(sql + " ORDER BY name, created, id", tuple(args))

    def zone(self, zone_id: str) -> Row | None:
        rows = self._query("SELECT * FROM zones WHERE id = ?", (zone_id,))
        return rows[0] if rows else None

    def zone_by_name(self, provider: str, account: str, name: str) -> Row | None:
        rows = self._query(
            "SELECT * FROM zones WHERE provider = ? AND account = ? AND name = ?"
            " ORDER BY created, id LIMIT 1",
            (provider, account, normalize_name(name)),
        )
        return rows[0] if rows else None

    # -- records ------------------------------------------------------------------------

    def records(self, zone_id: str, type: str | None = None, name: str | None = None) -> list[Row]:
        sql, args = "SELECT * FROM records WHERE zone_id = ?", [zone_id]
        if type is not None:
            sql, args = sql + " AND type = ?", [*args, type.upper()]
        if name is not None:
            sql, args = sql + " AND name = ?", [*args, normalize_name(name)]
        return self._query(sql + " ORDER BY created, id", tuple(args))

    def record(self, record_id: str) -> Row | None:
        rows = self._query("SELECT * FROM records WHERE id = ?", (record_id,))
        return rows[0] if rows else None

    def add_record(
        self,
        zone_id: str,
        name: str,
        type: str,
        content: str,
        ttl: int,
        priority: int | None = None,
        record_id: str | None = None,
    ) -> Row:
        with self.transaction():
            row = {
                "id": record_id or new_id(),
                "zone_id": zone_id,
                "name": normalize_name(name),
                "type": type.upper(),
                "content": content,
                "ttl": int(ttl),
                "priority": priority,
                "created": self._next_created(),
            }
            self._db.execute(
                "INSERT INTO records (id, zone_id, name, type, content, ttl, priority, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                tuple(row.values()),
            )
        return row

    def update_record(self, record_id: str, **fields: Any) -> Row:
        """Change some of name, type, content, ttl, priority; KeyError if the record is gone."""
        unknown = set(fields) - set(RECORD_FIELDS)
        if unknown:
            raise TypeError(f"unknown record fields: {sorted(unknown)}")
        if "name" in fields:
            fields["name"] = normalize_name(fields["name"])
        if "type" in fields:
            fields["type"] = str(fields["type"]).upper()
        with self.transaction():
            if fields:
                assignments = ", ".join(f"{key} = ?" for key in fields)  # keys whitelisted above
                self._db.execute(
                    f"UPDATE records SET {assignments} WHERE id = ?",  # noqa: S608
                    (*fields.values(), record_id),
                )
            row = self.record(record_id)
        if row is None:
            raise KeyError(record_id)
        return row

    def delete_record(self, record_id: str) -> bool:
        with self.transaction():
            cursor = self._db.execute("DELETE FROM records WHERE id = ?", (record_id,))
        return cursor.rowcount > 0

    # -- delegations --------------------------------------------------------------------

    def delegate(self, name: str, zone_id: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO delegations (name, zone_id) VALUES (?, ?)",
                (normalize_name(name), zone_id),
            )

    def authoritative_zone(self, qname: str) -> Row | None:
        """The zone delegated for the longest zone name that is qname or a parent of it."""
        rows = self._query(
            "SELECT z.* FROM delegations d JOIN zones z ON z.id = d.zone_id"
            " WHERE d.name = ?1 OR substr(?1, -length(d.name) - 1) = '.' || d.name"
            " ORDER BY length(d.name) DESC LIMIT 1",
            (normalize_name(qname),),
        )
        return rows[0] if rows else None

    # -- static lab records -------------------------------------------------------------

    def add_static(
        self, name: str, type: str, content: str, ttl: int = 300, priority: int | None = None
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO static_records (name, type, content, ttl, priority)"
                " VALUES (?, ?, ?, ?, ?)",
                (normalize_name(name), type.upper(), content, ttl, priority),
            )

    def remove_static(self, name: str, type: str | None = None) -> int:
        sql, args = "DELETE FROM static_records WHERE name = ?", [normalize_name(name)]
        if type is not None:
            sql, args = sql + " AND type = ?", [*args, type.upper()]
        with self.transaction():
            return self._db.execute(sql, tuple(args)).rowcount

    def static(self, name: str) -> list[Row]:
        return self._query(
            "SELECT name, type, content, ttl, priority FROM static_records"
            " WHERE name = ? ORDER BY rowid",
            (normalize_name(name),),
        )

    def reset(self) -> None:
        """Drop all data (the tables stay, so readers in other processes keep working)."""
        with self.transaction():
            for table in ("records", "delegations", "static_records", "zones"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608
