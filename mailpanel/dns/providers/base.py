"""What every DNS provider offers the panel, and the neutral form of the records they return.

A provider lists zones and records in the neutral form of `mailpanel.dns.types` and applies a
plan's changes. Counting, TTL rules and checks common to all are here; the wire format of each
provider lives in its own package (`client.py`), our interface to it in `provider.py`.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import ClassVar, Self

from mailpanel.dns.providers.http import CallCounts, ProviderHttp, RetryPolicy
from mailpanel.dns.types import Action, ApplyResult, Change, ErrorKind, ProviderError, Record, Zone

HOST_TARGET_TYPES = frozenset({"CNAME", "MX", "NS", "PTR"})
TXT_STRING_BYTES = 255


class DnsProvider(abc.ABC):
    """One account at one DNS provider. Use as ``async with`` or call :meth:`aclose`."""

    name: ClassVar[str]  # the registry key, e.g. "cloudflare"
    title: ClassVar[str]  # shown to people, e.g. "Cloudflare"
    supported_types: ClassVar[frozenset[str]]
    min_ttl: ClassVar[int]
    max_ttl: ClassVar[int] = 86400
    auto_ttl: ClassVar[int | None] = None  # a TTL value meaning "provider decides"
    default_base_url: ClassVar[str]
    credential_fields: ClassVar[tuple[str, ...]]

    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, str],
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """Build from the fields named in `credential_fields`, passed in that order."""
        fields = [credentials[name] for name in cls.credential_fields]
        # Each provider takes its credential fields first, in that order.
        return cls(*fields, base_url=base_url, retry=retry)  # type: ignore[arg-type,call-arg]

    # -- reading ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def verify(self) -> None:
        """Return if the credentials work; ProviderError(AUTH) in the provider's words if not."""

    @abc.abstractmethod
    async def list_zones(self) -> list[Zone]:
        """Every zone of the account (all pages)."""

    @abc.abstractmethod
    async def list_records(self, zone: Zone) -> list[Record]:
        """Every record of the zone (all pages), in the neutral form."""

    async def find_zone(self, domain: str) -> Zone | None:
        """The longest zone of the account that is the domain or a parent of it."""
        wanted = normalize_name(domain)
        matches = [z for z in await self.list_zones() if in_zone(wanted, z.name)]
        return max(matches, key=lambda z: len(z.name), default=None)

    # -- writing ---------------------------------------------------------------------------

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> ApplyResult:
        """Apply a plan's changes to the zone; the result counts the calls it took."""
        if not changes:
            return ApplyResult(changes=0, write_calls=0, read_calls=0)
        self._check(zone, changes)
        before = self.http.counts.snapshot()
        await self._apply_changes(zone, [self._with_provider_ttl(c) for c in changes])
        after = self.http.counts
        return ApplyResult(
            changes=len(changes),
            write_calls=after.writes - before.writes,
            read_calls=after.reads - before.reads,
        )

    @abc.abstractmethod
    async def _apply_changes(self, zone: Zone, changes: list[Change]) -> None:
        """Send the (checked, TTL-normalised) changes."""

    def normalize_ttl(self, ttl: int) -> tuple[int, str | None]:
        """The TTL this provider will store for `ttl`, and a note when it differs."""
        if self.auto_ttl is not None and ttl == self.auto_ttl:
            return ttl, None
        if ttl < self.min_ttl:
            note = f"{self.title} needs a TTL of at least {self.min_ttl} s: {ttl} s raised"
            return self.min_ttl, note
        if ttl > self.max_ttl:
            note = f"{self.title} allows a TTL of at most {self.max_ttl} s: {ttl} s lowered"
            return self.max_ttl, note
        return ttl, None

    @property
    def calls(self) -> CallCounts:
        """Calls made so far by this provider object (a copy)."""
        return self.http.counts.snapshot()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- helpers for subclasses ------------------------------------------------------------

    def _check(self, zone: Zone, changes: Sequence[Change]) -> None:
        """Refuse the whole change set before any call if one change cannot be sent.

        Only records we write must be of a supported type: one the provider already holds
        (an NS, say) may still be deleted.
        """
        for change in changes:
            after = change.after
            if after is not None and after.type not in self.supported_types:
                message = f"{self.title} does not support {after.type} records"
                raise ProviderError(ErrorKind.VALIDATION, message)
            for record in (change.before, after):
                if record is not None and not in_zone(record.name, zone.name):
                    message = f"{record.name} is not in the zone {zone.name}"
                    raise ProviderError(ErrorKind.VALIDATION, message)

    def _with_provider_ttl(self, change: Change) -> Change:
        if change.after is None:
            return change
        ttl, _note = self.normalize_ttl(change.after.ttl)
        return dataclasses.replace(change, after=dataclasses.replace(change.after, ttl=ttl))

    async def _with_provider_ids(self, zone: Zone, changes: list[Change]) -> list[Change]:
        """Changes whose `before` carries the provider's id, looked up in one listing if needed."""
        if all(c.before is None or c.before.provider_id for c in changes):
            return changes
        existing = await self.list_records(zone)
        return [self._identified(c, existing) for c in changes]

    def _identified(self, change: Change, existing: list[Record]) -> Change:
        before = change.before
        if before is None or before.provider_id:
            return change
        found = next((r for r in existing if r.same_data(before)), None)
        if found is None:
            what = f"{before.name} {before.type} {before.content}"
            message = f"no such record at {self.title}: {what}"
            raise ProviderError(ErrorKind.NOT_FOUND, message, "plan again: the zone has changed")
        return dataclasses.replace(change, before=found)


def order_of(change: Change) -> int:
    """Deletes first, then updates, then creates: a name is free before it is reused."""
    return {Action.DELETE: 0, Action.UPDATE: 1, Action.CREATE: 2}[change.action]


async def run_bounded(jobs: Sequence[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run jobs at most `limit` at a time, then raise the error that happened first.

    A write in flight is never cancelled (its outcome would be unknown); after a failure the
    jobs not yet started are skipped. The first error in time is the one that stopped the run:
    a job in flight may fail later (for the same cause, often), and job order says nothing.
    """
    semaphore = asyncio.Semaphore(limit)
    errors: list[BaseException] = []  # in the order they happened

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            if errors:
                return
            try:
                await job()
            except BaseException as exc:
                errors.append(exc)
                raise

    results = await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)
    # A cancellation while waiting for the semaphore is in the results only.
    failures = errors or [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]


# -- the neutral form -----------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """Absolute name as the neutral form wants it: lowercase, A-labels, no trailing dot."""
    labels = name.strip().rstrip(".").lower().split(".")
    return ".".join(label if label.isascii() else label.encode("idna").decode() for label in labels)


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def absolute_name(name: str, zone: str) -> str:
    """A provider's name made absolute: "" or "@" is the apex, full names stay full."""
    full = normalize_name(name)
    if full in ("", "@"):
        return zone
    return full if in_zone(full, zone) else f"{full}.{zone}"


def relative_name(name: str, zone: str) -> str:
    """The name relative to the zone, "" at the apex."""
    if name == zone:
        return ""
    if not name.endswith("." + zone):
        raise ProviderError(ErrorKind.VALIDATION, f"{name} is not in the zone {zone}")
    return name[: -len(zone) - 1]


def neutral_content(rtype: str, content: str) -> str:
    """Content as the neutral form keeps it (TXT unquoted and joined, targets without dot)."""
    if rtype == "TXT":
        return txt_value(content)
    content = content.strip()
    if rtype in HOST_TARGET_TYPES:
        return normalize_name(content)
    if rtype == "SRV":
        parts = content.split()
        if len(parts) == 3:
            return f"{parts[0]} {parts[1]} {normalize_name(parts[2]) or '.'}"
        return content
    if rtype in ("A", "AAAA"):
        try:
            return ipaddress.ip_address(content).compressed
        except ValueError:
            return content
    return content


def txt_value(content: str) -> str:
    """The logical TXT value: `"a" "b"` -> `ab`; bare content stays as it is."""
    strings = parse_quoted(content.strip())
    return content if strings is None else "".join(strings)


def parse_quoted(text: str) -> list[str] | None:
    r"""`"a\"b" "c"` -> ['a"b', 'c']; None if the text is not a series of quoted strings."""
    if not text.startswith('"'):
        return None
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
            return None
        strings.append("".join(current))
        i += 1
    return strings


def txt_strings(value: str) -> list[str]:
    """The value cut into DNS character-strings of at most 255 bytes (never inside a char)."""
    strings: list[str] = []
    current: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode())
        if size + width > TXT_STRING_BYTES:
            strings.append("".join(current))
            current = []
            size = 0
        current.append(char)
        size += width
    strings.append("".join(current))
    return strings


def quote_txt(value: str) -> str:
    """`"part1" "part2"`: the value split into 255-byte strings, each quoted and escaped."""
    escaped = (s.replace("\\", "\\\\").replace('"', '\\"') for s in txt_strings(value))
    return " ".join(f'"{s}"' for s in escaped)
