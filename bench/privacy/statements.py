"""What the database was asked, per statement kind and table: count, rows written, seconds.

A ``connection.execute_wrapper``, so nothing of the code under test changes and no debug
cursor keeps every statement: rows written are the cursor's ``rowcount`` after each
UPDATE, INSERT or DELETE, i.e. rows changed, not statements.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WRITES = ("UPDATE", "INSERT", "DELETE")
TABLE = {
    "UPDATE": re.compile(r'^\s*UPDATE\s+"?(\w+)', re.IGNORECASE),
    "INSERT": re.compile(r'^\s*INSERT\s+INTO\s+"?(\w+)', re.IGNORECASE),
    "DELETE": re.compile(r'^\s*DELETE\s+FROM\s+"?(\w+)', re.IGNORECASE),
    "SELECT": re.compile(r'\bFROM\s+"?(\w+)', re.IGNORECASE),
}


@dataclass
class Tally:
    statements: int = 0
    rows: int = 0
    seconds: float = 0.0


class StatementLog:
    def __init__(self) -> None:
        self.by_kind: dict[tuple[str, str], Tally] = defaultdict(Tally)

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        verb, table = kind_of(sql)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            tally = self.by_kind[(verb, table)]
            tally.statements += 1
            tally.seconds += time.perf_counter() - started
            if verb in WRITES:
                tally.rows += max(context["cursor"].rowcount, 0)

    def rows_written(self) -> int:
        return sum(t.rows for (verb, _), t in self.by_kind.items() if verb in WRITES)

    def writes_by_table(self) -> dict[str, dict[str, int]]:
        """``{"UPDATE vault_datakey": {"statements": .., "rows": ..}}`` for every write."""
        return {
            f"{verb} {table}": {"statements": t.statements, "rows": t.rows}
            for (verb, table), t in sorted(self.by_kind.items())
            if verb in WRITES
        }

    def slowest(self, count: int) -> list[dict[str, Any]]:
        ranked = sorted(self.by_kind.items(), key=lambda item: -item[1].seconds)[:count]
        return [
            {
                "statement": f"{verb} {table}".strip(),
                "count": t.statements,
                "rows": t.rows,
                "seconds": round(t.seconds, 3),
            }
            for (verb, table), t in ranked
        ]

    def statements(self) -> int:
        return sum(t.statements for t in self.by_kind.values())


def kind_of(sql: str) -> tuple[str, str]:
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    pattern = TABLE.get(verb)
    found = pattern.search(sql) if pattern else None
    return verb, found.group(1) if found else ""
