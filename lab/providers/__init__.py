"""DNS provider fakes of the lab, and the DNS data rules they share.

The fakes live in their own modules (import them from there):

- `lab.providers.cloudflare.FakeCloudflare` (Cloudflare API v4, `/client/v4`)
- `lab.providers.namecom.FakeNameCom` (Name.com API v4, `/v4`)
- `lab.providers.openprovider.FakeOpenProvider` (OpenProvider REST v1beta, `/v1beta`)

All of them store zones in a `lab.zonestore.ZoneStore`, which the lab DNS server serves.
Below: validation and comparison of record data, shared so the three agree on what a
hostname or an identical record is.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from lab.providers.base import BadRequest
from lab.zonestore import Row, normalize_name, txt_strings, txt_value

RECORD_TYPES = frozenset({"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "PTR"})
HOST_TARGET_TYPES = frozenset({"CNAME", "MX", "NS", "PTR"})
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.IGNORECASE)


class BadContent(BadRequest):
    """The record content does not fit its type (Cloudflare answers these with code 9005)."""


def is_hostname(value: str, *, wildcard: bool = False) -> bool:
    name = value.rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253:
        return False
    if wildcard and labels[0] == "*":
        labels = labels[1:]
    return all(_LABEL.match(label) for label in labels)


def owner_name(name: str, zone: str) -> str:
    """A request's record name, made full: `@` or "" is the apex; a name in the zone stays."""
    full = normalize_name(name)
    if full in ("", "@"):
        return zone
    if full == zone or full.endswith("." + zone):
        return full
    return f"{full}.{zone}"


def check_owner(name: str) -> str:
    if not is_hostname(name, wildcard=True):
        raise BadRequest(f"invalid record name {name!r}")
    return name


def check_content(rtype: str, content: str) -> str:
    """Validate content for its type; returns it normalised as the providers store it."""
    if rtype not in RECORD_TYPES:
        raise BadRequest(f"unsupported record type {rtype!r}")
    if not content:
        raise BadContent(f"content is required for {rtype} records")
    try:
        if rtype == "A":
            return str(ipaddress.IPv4Address(content))
        if rtype == "AAAA":
            return ipaddress.IPv6Address(content).compressed
    except ValueError as exc:
        family = "IPv4" if rtype == "A" else "IPv6"
        raise BadContent(f"Content for {rtype} record must be a valid {family} address.") from exc
    if rtype in HOST_TARGET_TYPES:
        if not is_hostname(content):
            raise BadContent(f"Content for {rtype} record must be a valid hostname.")
        return content.rstrip(".").lower()
    if rtype == "SRV":
        return _check_srv(content)
    # Bare TXT may be long (the provider splits it); quoted strings are the client's split.
    quoted = rtype == "TXT" and content.strip().startswith('"')
    if quoted and any(len(s.encode()) > 255 for s in txt_strings(content)):
        raise BadContent("TXT record strings must be at most 255 bytes each.")
    return content


def _check_srv(content: str) -> str:
    parts = content.split()
    ok = len(parts) == 3 and all(p.isdigit() and int(p) <= 65535 for p in parts[:2])
    if not ok or not (parts[2] == "." or is_hostname(parts[2])):
        raise BadContent("SRV content must be 'weight port target'.")
    return f"{int(parts[0])} {int(parts[1])} {parts[2].rstrip('.').lower()}"


def canonical(rtype: str, content: str) -> str:
    """Content as compared for duplicates: TXT quoting undone, hostnames case-folded."""
    if rtype == "TXT":
        return txt_value(content)
    return content.rstrip(".").lower()


def conflict(records: Iterable[Row], new: Row, exclude: str | None = None) -> str | None:
    """'duplicate' (same name, type, content), 'cname' (CNAME beside anything), or None."""
    for row in records:
        if row["id"] == exclude or row["name"] != new["name"]:
            continue
        if row["type"] == new["type"] and canonical(row["type"], row["content"]) == canonical(
            new["type"], new["content"]
        ):
            return "duplicate"
        if "CNAME" in (row["type"], new["type"]):
            return "cname"
    return None


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter clamped to [low, high], as the real APIs clamp page sizes."""
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc
    return min(max(value, low), high)


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
