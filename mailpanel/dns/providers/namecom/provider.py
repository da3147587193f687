"""Name.com as a DnsProvider: one call per change, a few at a time."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from mailpanel.dns.providers.base import DnsProvider, normalize_name, run_bounded
from mailpanel.dns.providers.http import RetryPolicy
from mailpanel.dns.providers.namecom.client import (
    DEFAULT_BASE_URL,
    NameComClient,
    record_from_wire,
    record_to_wire,
)
from mailpanel.dns.types import Action, Change, Record, Zone

# Calls of one phase in flight at once: cuts wall time, and with the client's pacing stays
# under Name.com's 20 requests a second.
CONCURRENCY = 4


class NameComDns(DnsProvider):
    name = "namecom"
    title = "Name.com"
    supported_types = frozenset({"A", "AAAA", "MX", "TXT", "CNAME", "SRV"})
    min_ttl = 300
    max_ttl = 86400
    default_base_url = DEFAULT_BASE_URL
    credential_fields = ("username", "token")

    def __init__(
        self,
        username: str,
        token: str,
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = NameComClient(username, token, base_url or DEFAULT_BASE_URL, retry)
        super().__init__(self.client.http)

    async def verify(self) -> None:
        await self.client.hello()

    async def list_zones(self) -> list[Zone]:
        names = (normalize_name(str(d["domainName"])) for d in await self.client.domains())
        return [Zone(id=name, name=name) for name in names]

    async def list_records(self, zone: Zone) -> list[Record]:
        return [record_from_wire(zone, item) for item in await self.client.records(zone.name)]

    async def _apply_changes(self, zone: Zone, changes: list[Change]) -> None:
        changes = await self._with_provider_ids(zone, changes)
        # Phases in order (deletes, updates, creates) so a name is free before it is reused;
        # the calls inside one phase are independent and run side by side.
        for phase in (Action.DELETE, Action.UPDATE, Action.CREATE):
            jobs = [self._job(zone, c) for c in changes if c.action is phase]
            await run_bounded(jobs, CONCURRENCY)

    def _job(self, zone: Zone, change: Change) -> Callable[[], Awaitable[None]]:
        domain = zone.name
        if change.action is Action.DELETE:
            assert change.before is not None and change.before.provider_id
            return functools.partial(self.client.delete, domain, change.before.provider_id)
        assert change.after is not None
        body = record_to_wire(zone, change.after)
        if change.action is Action.UPDATE:
            assert change.before is not None and change.before.provider_id
            return functools.partial(self.client.replace, domain, change.before.provider_id, body)
        return functools.partial(self.client.create, domain, body)
