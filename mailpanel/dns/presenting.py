"""Plans and results as rows for a page: names shown as U-labels, TXT values whole."""

from __future__ import annotations

from typing import Any

from mailpanel.dns.desired import KIND_TITLES
from mailpanel.names import domain_to_unicode


def shown_name(name: str) -> str:
    """`_dmarc.xn--bcher-kva.test` -> `_dmarc.bücher.test` (each label on its own)."""
    return ".".join(domain_to_unicode(label) for label in name.split("."))


def shown_value(record: dict[str, Any] | None) -> str:
    """The record's data as a zone file has it (an MX with its priority); no TTL, which the
    page shows on its own so it never breaks inside a long value."""
    if not record:
        return ""
    prefix = f"{record['priority']} " if record.get("priority") is not None else ""
    return f"{prefix}{record['content']}"


def shown_ttl(record: dict[str, Any] | None) -> str:
    return str(record["ttl"]) if record else ""


def plan_rows(content: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for change in content.get("changes", []):
        record = change["after"] or change["before"]
        rows.append(
            {
                "action": change["action"],
                "type": record["type"],
                "name": shown_name(record["name"]),
                "before": shown_value(change["before"]),
                "before_ttl": shown_ttl(change["before"]),
                "after": shown_value(change["after"]),
                "after_ttl": shown_ttl(change["after"]),
                "purpose": KIND_TITLES.get(change["kind"], change["kind"]),
            }
        )
    return rows


def result_rows(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**r, "name": shown_name(r["name"]), "purpose": KIND_TITLES.get(r.get("kind", ""), "")}
        for r in result
    ]
