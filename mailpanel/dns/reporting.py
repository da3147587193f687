"""DMARC and TLS-RPT records, merged with what the owner already publishes there.

Both are tag lists (`k=v; k=v`) with a `rua=` list of report addresses. The panel sets what
the owner chose in the panel (the DMARC policy, its report address) and keeps everything
else: their own tags (`sp=`, `pct=`, `ruf=`, `adkim=`...) and the report addresses of the
services they already use. A report address the panel added earlier and the owner no longer
wants is taken back; one the owner wrote is never removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TagMerge:
    value: str
    notes: tuple[str, ...] = ()
    ours: tuple[str, ...] = ()  # the report addresses the panel put there


def parse_tags(value: str) -> list[tuple[str, str]]:
    """`v=DMARC1; p=none; rua=...` as (lowercased tag, value) pairs, in order."""
    pairs: list[tuple[str, str]] = []
    for part in value.split(";"):
        tag, sep, content = part.partition("=")
        if sep and tag.strip():
            pairs.append((tag.strip().lower(), content.strip()))
    return pairs


def merge_dmarc(
    existing: Sequence[str], policy: str, report_address: str, ours: Sequence[str] = ()
) -> TagMerge:
    wanted = f"mailto:{report_address}" if report_address else ""
    notes: list[str] = []
    tags = _merged_tags(existing, "DMARC", notes)
    rua, kept_ours = _merge_uris(tags.get("rua", ""), wanted, ours, "DMARC", notes)
    before = tags.get("p")
    if before and before.lower() != policy:
        notes.append(f"DMARC: the policy changes from p={before} to p={policy}")
    kept = [f"{k}={v}" for k, v in tags.items() if k not in ("v", "p", "rua")]
    if kept:
        notes.append("DMARC: your own tags are kept: " + "; ".join(kept))
    parts = ["v=DMARC1", f"p={policy}", *([f"rua={','.join(rua)}"] if rua else []), *kept]
    return TagMerge("; ".join(parts), tuple(notes), kept_ours)


def merge_tls_rpt(
    existing: Sequence[str], report_address: str, ours: Sequence[str] = ()
) -> TagMerge:
    notes: list[str] = []
    tags = _merged_tags(existing, "TLS-RPT", notes)
    rua, kept_ours = _merge_uris(
        tags.get("rua", ""), f"mailto:{report_address}", ours, "TLS-RPT", notes
    )
    kept = [f"{k}={v}" for k, v in tags.items() if k not in ("v", "rua")]
    parts = ["v=TLSRPTv1", f"rua={','.join(rua)}", *kept]
    return TagMerge("; ".join(parts), tuple(notes), kept_ours)


def _merged_tags(existing: Sequence[str], title: str, notes: list[str]) -> dict[str, str]:
    """One record's tags; with several records (receivers ignore them all), the first's win
    and the report addresses of all are kept."""
    tags: dict[str, str] = {}
    uris: list[str] = []
    for record in existing:
        for tag, content in parse_tags(record):
            if tag == "rua":
                uris += [u for u in _uris(content) if u.lower() not in _keys(uris)]
            else:
                tags.setdefault(tag, content)
    if len(existing) > 1:
        notes.append(
            f"{len(existing)} {title} records were published (receivers then use none): "
            "the plan merges them into one"
        )
    if uris:
        tags["rua"] = ",".join(uris)
    return tags


def _merge_uris(
    current: str, wanted: str, ours: Sequence[str], title: str, notes: list[str]
) -> tuple[list[str], tuple[str, ...]]:
    uris = _uris(current)
    stale = [u for u in uris if u.lower() in _keys(ours) and u.lower() != wanted.lower()]
    if stale:
        notes.append(f"{title}: reports no longer go to {', '.join(stale)} (the panel added it)")
    uris = [u for u in uris if u not in stale]
    present = any(_address(u) == _address(wanted) for u in uris) if wanted else True
    if not present:
        uris.append(wanted)
    mine = [u for u in uris if u.lower() in _keys(ours) or (not present and u == wanted)]
    return uris, tuple(mine)


def _uris(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def _address(uri: str) -> str:
    """`mailto:a@b.test!10m` -> `mailto:a@b.test` (a size limit does not make another address)."""
    return uri.split("!", 1)[0].lower()


def _keys(values: Sequence[str]) -> set[str]:
    return {v.lower() for v in values}
