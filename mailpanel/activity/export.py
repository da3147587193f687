"""The Activity page's rows as CSV, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC

from mailpanel.activity.timeline import Entry

COLUMNS = ("time", "kind", "action", "object", "message", "ip", "browser", "job_state")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object that hands back what csv.writer writes, for streaming."""

    def write(self, text: str) -> str:
        return text


def spreadsheet_safe(value: str) -> str:
    """``value``, with a leading apostrophe when a spreadsheet would read it as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_cells(entry: Entry) -> list[str]:
    is_job = entry.kind == "Job"
    cells = [
        entry.at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        entry.kind,
        entry.action,
        entry.object,
        entry.job_title if is_job else entry.message,
        entry.ip,
        entry.browser,
        entry.job_state,
    ]
    return [spreadsheet_safe(cell) for cell in cells]


def csv_lines(entries: Iterable[Entry]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for entry in entries:
        yield writer.writerow(csv_cells(entry))
