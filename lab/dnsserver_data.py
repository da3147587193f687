"""What the lab DNS server knows, read straight from the zone store's SQLite file.

The server reads the file with the schema of `lab.zonestore` rather than through the
ZoneStore class: the provider fakes write from another process, and a fresh connection
per DNS query (one read transaction) makes every committed change visible to the next
query, with no cache to invalidate.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# Lab infrastructure lives under these names even when no provider zone covers them
# (host A records, reverse PTRs, the DNSBL); static SOA/NS records add more apexes.
DEFAULT_STATIC_ZONES = ("lab", "in-addr.arpa", "ip6.arpa")

# A name is "under" a zone when it is the zone or ends with "." + zone. LIKE is not used
# because "_" in _dmarc/_domainkey names is a LIKE wildcard.
_UNDER = "(name = ?1 OR substr(name, -length(?1) - 1) = '.' || ?1)"


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    content: str
    ttl: int
    priority: int | None


@dataclass(frozen=True)
class Zone:
    """The apex the server answers for; zone_id is None for a static-only apex."""

    apex: str
    zone_id: str | None


def suffixes(name: str) -> list[str]:
    """`a.b.c` -> [`a.b.c`, `b.c`, `c`]."""
    labels = name.split(".") if name else []
    return [".".join(labels[i:]) for i in range(len(labels))]


def is_under(name: str, apex: str) -> bool:
    return name == apex or name.endswith("." + apex)


class Snapshot:
    """One consistent read of the zone store, for answering one DNS query."""

    def __init__(self, db_path: str | Path, static_zones: tuple[str, ...]) -> None:
        uri = Path(db_path).resolve().as_uri() + "?mode=rw"  # rw: never create the file
        self.db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=2.0)
        self.db.execute("PRAGMA query_only = 1")
        self.db.execute("BEGIN")  # one read transaction: all lookups see the same data
        self.static_zones = static_zones

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        return list(self.db.execute(sql, args).fetchall())

    def zone_for(self, name: str) -> Zone | None:
        """The longest delegated or static apex that is `name` or a parent of it."""
        candidates = suffixes(name)
        if not candidates:
            return None
        marks = ",".join("?" * len(candidates))
        delegated = self._rows(
            f"SELECT name, zone_id FROM delegations WHERE name IN ({marks})",  # noqa: S608
            tuple(candidates),
        )
        static = {c for c in candidates if c in self.static_zones}
        static |= {
            str(row[0])
            for row in self._rows(
                f"SELECT name FROM static_records WHERE type IN ('SOA', 'NS')"  # noqa: S608
                f" AND name IN ({marks})",
                tuple(candidates),
            )
        }
        if not static and not delegated and self._static_at(name):
            static.add(name)  # a lone static name outside every apex is its own apex
        return _longest(delegated, static)

    def records_at(self, zone: Zone, name: str) -> list[Record]:
        """The zone's records at `name` plus the static records there."""
        rows = self._static_at(name)
        if zone.zone_id is not None:
            rows = (
                self._rows(
                    "SELECT name, type, content, ttl, priority FROM records"
                    " WHERE zone_id = ? AND name = ? ORDER BY created, id",
                    (zone.zone_id, name),
                )
                + rows
            )
        return [_record(row) for row in rows]

    def _static_at(self, name: str) -> list[tuple[object, ...]]:
        return self._rows(
            "SELECT name, type, content, ttl, priority FROM static_records"
            " WHERE name = ? ORDER BY rowid",
            (name,),
        )

    def exists(self, zone: Zone, name: str) -> bool:
        """Whether `name` owns records or has descendants (an empty non-terminal)."""
        if name == zone.apex:
            return True
        sql = f"SELECT 1 FROM static_records WHERE {_UNDER} LIMIT 1"  # noqa: S608
        if self._rows(sql, (name,)):
            return True
        if zone.zone_id is None:
            return False
        sql = f"SELECT 1 FROM records WHERE zone_id = ?2 AND {_UNDER} LIMIT 1"  # noqa: S608
        return bool(self._rows(sql, (name, zone.zone_id)))

    def wildcard_records(self, zone: Zone, name: str) -> list[Record]:
        """Records of `*.<closest encloser>` for a name that does not exist (RFC 4592)."""
        encloser = name
        while encloser != zone.apex:
            encloser = encloser.split(".", 1)[1]
            if self.exists(zone, encloser):
                break
        return self.records_at(zone, "*." + encloser)


def _longest(delegated: list[tuple[object, ...]], static: set[str]) -> Zone | None:
    best: Zone | None = None
    for name, zone_id in delegated:
        if best is None or len(str(name)) > len(best.apex):
            best = Zone(str(name), str(zone_id))
    for apex in static:
        if best is None or len(apex) > len(best.apex):
            best = Zone(apex, None)
    return best


def _record(row: tuple[object, ...]) -> Record:
    name, rtype, content, ttl, priority = row
    return Record(
        name=str(name),
        type=str(rtype).upper(),
        content=str(content),
        ttl=int(ttl) if isinstance(ttl, int | float) else 300,
        priority=int(priority) if isinstance(priority, int | float) else None,
    )
