"""Cloudflare as a DnsProvider: batch writes, single calls where the batch endpoint is missing."""

from __future__ import annotations

from typing import Any

from mailpanel.dns.providers.base import DnsProvider, normalize_name, order_of
from mailpanel.dns.providers.cloudflare.client import (
    AUTH_HINT,
    DEFAULT_BASE_URL,
    BatchOps,
    CloudflareClient,
    is_no_route,
    record_from_wire,
    record_to_wire,
)
from mailpanel.dns.providers.http import RetryPolicy
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record, Zone

FREE_PLAN_BATCH_LIMIT = 200
Operation = tuple[str, dict[str, Any]]  # (batch list name, item)


class CloudflareDns(DnsProvider):
    name = "cloudflare"
    title = "Cloudflare"
    supported_types = frozenset({"A", "AAAA", "MX", "TXT", "CNAME", "CAA", "SRV"})
    min_ttl = 60
    max_ttl = 86400
    auto_ttl = 1
    default_base_url = DEFAULT_BASE_URL
    credential_fields = ("token",)

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        batch_limit: int = FREE_PLAN_BATCH_LIMIT,
    ) -> None:
        self.client = CloudflareClient(token, base_url or DEFAULT_BASE_URL, retry)
        super().__init__(self.client.http)
        self.batch_limit = batch_limit
        self.batch_available = True  # False once Cloudflare said it has no batch endpoint

    async def verify(self) -> None:
        status = (await self.client.verify_token()).get("status")
        if status != "active":
            raise ProviderError(ErrorKind.AUTH, f"The API token is {status}.", AUTH_HINT)

    async def list_zones(self) -> list[Zone]:
        zones = await self.client.zones()
        return [Zone(id=str(z["id"]), name=normalize_name(str(z["name"]))) for z in zones]

    async def list_records(self, zone: Zone) -> list[Record]:
        return [record_from_wire(item) for item in await self.client.records(zone.id)]

    async def _apply_changes(self, zone: Zone, changes: list[Change]) -> None:
        changes = await self._with_provider_ids(zone, changes)
        operations = [operation(c) for c in sorted(changes, key=order_of)]
        # Operations are sorted deletes, patches, posts, so each chunk keeps the global order.
        for start in range(0, len(operations), self.batch_limit):
            chunk = operations[start : start + self.batch_limit]
            if self.batch_available and await self._batch(zone, chunk):
                continue
            await self._one_by_one(zone, chunk)

    async def _batch(self, zone: Zone, chunk: list[Operation]) -> bool:
        """Send one batch; False if this API has no batch endpoint (then nothing was done).

        Only an answer that the route is missing means that (see `no_route`): any other error,
        a 404 for a deleted zone included, would refuse the single calls too, or worse apply
        part of a change set the batch refused whole.
        """
        ops: BatchOps = {}
        for kind, item in chunk:
            ops.setdefault(kind, []).append(item)
        try:
            await self.client.batch(zone.id, ops)
        except ProviderError as exc:
            if not is_no_route(exc):
                raise
            self.batch_available = False
            return False
        return True

    async def _one_by_one(self, zone: Zone, chunk: list[Operation]) -> None:
        for kind, item in chunk:
            if kind == "deletes":
                await self.client.delete(zone.id, item["id"])
            elif kind == "patches":
                body = {k: v for k, v in item.items() if k != "id"}
                await self.client.patch(zone.id, item["id"], body)
            else:
                await self.client.create(zone.id, item)


def operation(change: Change) -> Operation:
    if change.action is Action.DELETE:
        assert change.before is not None
        return "deletes", {"id": change.before.provider_id}
    assert change.after is not None
    body = record_to_wire(change.after)
    if change.action is Action.UPDATE:
        assert change.before is not None
        return "patches", {"id": change.before.provider_id, **body}
    return "posts", body
