"""Looking records up at the configured resolvers: SPF includes, and visibility after apply."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from mailpanel.dns.desired import Wanted
from mailpanel.dns.spf import TxtResolver
from mailpanel.dns.types import Record

FIRST_INTERVAL_S = 0.5
Log = Callable[[str], None]


async def txt_values(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    """The TXT values at `name`, each record's strings joined; LookupError when there are none."""
    try:
        answer = await resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as exc:
        raise LookupError("no TXT record") from exc
    except dns.exception.DNSException as exc:
        raise LookupError(type(exc).__name__) from exc
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def txt_resolver(resolver: dns.asyncresolver.Resolver) -> TxtResolver:
    async def resolve(name: str) -> list[str]:
        return await txt_values(resolver, name)

    return resolve


async def published(resolver: dns.asyncresolver.Resolver, name: str, rtype: str) -> list[str]:
    """The values at (name, type) in the neutral form: addresses, `prio target`, joined TXT."""
    try:
        answer = await resolver.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    values = []
    for rdata in answer:
        if rtype == "TXT":
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        elif rtype == "MX":
            values.append(f"{rdata.preference} {str(rdata.exchange).rstrip('.').lower()}")
        elif rtype in ("A", "AAAA"):
            values.append(ipaddress.ip_address(rdata.address).compressed)
        else:
            values.append(rdata.to_text())
    return values


def expected(record: Record) -> str:
    return f"{record.priority} {record.content}" if record.type == "MX" else record.content


@dataclass(frozen=True)
class Visibility:
    wanted: Wanted
    visible: bool
    seen: tuple[str, ...]  # what the resolver answered on the last try


async def wait_visible(
    wanted: Sequence[Wanted],
    resolver: dns.asyncresolver.Resolver,
    timeout: float,
    log: Log,
    max_interval: float = 10.0,
) -> list[Visibility]:
    """Ask until every record is answered (backoff from 0.5 s up to `max_interval`) or timeout."""
    deadline = time.monotonic() + timeout
    pending = list(wanted)
    results: dict[int, Visibility] = {}
    interval = FIRST_INTERVAL_S
    while True:
        checks = await asyncio.gather(*(_check(resolver, w) for w in pending))
        for item, check in zip(pending, checks, strict=True):
            results[id(item)] = check
        pending = [w for w, c in zip(pending, checks, strict=True) if not c.visible]
        if not pending or time.monotonic() + interval > deadline:
            break
        log(f"{len(pending)} record(s) not visible yet; asking again in {interval:.1f} s")
        await asyncio.sleep(interval)
        interval = min(max_interval, interval * 2)
    return [results[id(w)] for w in wanted]


async def _check(resolver: dns.asyncresolver.Resolver, item: Wanted) -> Visibility:
    record = item.record
    try:
        seen = await published(resolver, record.name, record.type)
    except dns.exception.DNSException as exc:
        return Visibility(item, False, (f"lookup failed: {type(exc).__name__}",))
    return Visibility(item, expected(record) in seen, tuple(seen))
