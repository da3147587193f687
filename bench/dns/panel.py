"""The panel's side: one provider object per account, zones in parallel (bounded)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver

from mailpanel.dns.desired import MailDomain
from mailpanel.dns.engine import Lookups, Options, publish
from mailpanel.dns.providers.registry import make_provider

CONCURRENCY = 20  # zones in flight at once


@dataclass
class PanelRun:
    seconds: float
    write_calls: int  # as the provider objects counted them
    changes: int


def resolver() -> dns.asyncresolver.Resolver:
    # The record set needs no lookup (SPF holds only ip4:), so no query is ever sent.
    res = dns.asyncresolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    return res


async def apply_all(kind: str, credentials: dict[str, str], base_url: str,
                    domains: Sequence[MailDomain]) -> PanelRun:  # fmt: skip
    started = time.perf_counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    lookups = Lookups(resolver())
    changes = 0
    async with make_provider(kind, credentials, base_url) as provider:
        zones = {z.name: z for z in await provider.list_zones()}  # what the account test caches

        async def one(domain: MailDomain) -> None:
            nonlocal changes
            async with gate:
                done = await publish(provider, zones[domain.name], domain, ttl=3600,
                                     log=lambda line: None, lookups=lookups,
                                     options=Options(verify=False))  # fmt: skip
                changes += len(done.plan.changes) if done.writes else 0

        await asyncio.gather(*(one(d) for d in domains))
        writes = provider.calls.writes
    return PanelRun(time.perf_counter() - started, writes, changes)
