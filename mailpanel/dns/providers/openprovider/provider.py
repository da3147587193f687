"""OpenProvider as a DnsProvider: exactly one zone update per apply."""

from __future__ import annotations

from typing import Any

from mailpanel.dns.providers.base import DnsProvider, normalize_name
from mailpanel.dns.providers.http import RetryPolicy
from mailpanel.dns.providers.openprovider.client import (
    DEFAULT_BASE_URL,
    OpenProviderClient,
    record_from_wire,
    record_to_wire,
)
from mailpanel.dns.types import Action, Change, Record, Zone


class OpenProviderDns(DnsProvider):
    name = "openprovider"
    title = "OpenProvider"
    supported_types = frozenset({"A", "AAAA", "MX", "TXT", "CNAME", "CAA", "SRV"})
    min_ttl = 600
    max_ttl = 86400
    default_base_url = DEFAULT_BASE_URL
    credential_fields = ("username", "password")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = OpenProviderClient(username, password, base_url or DEFAULT_BASE_URL, retry)
        super().__init__(self.client.http)

    async def verify(self) -> None:
        # A fresh login, not a cached token: verify is asked after the credentials changed.
        await self.client.fresh_login()

    async def list_zones(self) -> list[Zone]:
        zones = await self.client.zones()
        return [Zone(id=str(z["id"]), name=normalize_name(str(z["name"]))) for z in zones]

    async def list_records(self, zone: Zone) -> list[Record]:
        return [record_from_wire(zone, item) for item in await self.client.records(zone.name)]

    async def _apply_changes(self, zone: Zone, changes: list[Change]) -> None:
        records: dict[str, list[Any]] = {"add": [], "remove": [], "update": []}
        for change in changes:
            before = record_to_wire(zone, change.before) if change.before else None
            after = record_to_wire(zone, change.after) if change.after else None
            if change.action is Action.CREATE:
                records["add"].append(after)
            elif change.action is Action.DELETE:
                records["remove"].append(before)
            else:
                records["update"].append({"original_record": before, "record": after})
        await self.client.update_zone(zone, records)
