"""Name.com API v4 wire format: Basic auth, camelCase JSON, relative hosts, nextPage paging."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mailpanel.dns.providers.base import absolute_name, neutral_content, relative_name
from mailpanel.dns.providers.http import ProviderHttp, RequestPacer, RetryPolicy, basic_auth
from mailpanel.dns.types import ErrorKind, ProviderError, Record, Zone

DEFAULT_BASE_URL = "https://api.name.com/v4"
PER_PAGE = 1000
MAX_PAGES = 10_000
# Name.com answers 429 above 20 requests a second; keep a margin for clock skew.
REQUESTS_PER_SECOND = 18
DUPLICATE_DETAILS = "Duplicate Record"
AUTH_HINT = "check the Name.com username and API token (the test API wants the -test username)"
PRIORITY_TYPES = frozenset({"MX", "SRV"})


def parse_error(status: int, body: Any) -> ProviderError:
    message, details = "", ""
    if isinstance(body, dict):
        message, details = str(body.get("message", "")), str(body.get("details", ""))
    words = ": ".join(w for w in (message, details) if w) or f"Name.com answered HTTP {status}"
    kind, hint = classify(status, details)
    return ProviderError(kind, words, hint, status)


def classify(status: int, details: str) -> tuple[ErrorKind, str]:
    if DUPLICATE_DETAILS.lower() in details.lower():
        return ErrorKind.DUPLICATE, "the record already exists at Name.com; plan again"
    if status in (401, 403):
        return ErrorKind.AUTH, AUTH_HINT
    if status == 404:
        return ErrorKind.NOT_FOUND, "plan again: the domain or record is gone"
    if status == 429:
        return ErrorKind.RATE_LIMITED, "Name.com allows 20 requests a second and 3,000 an hour"
    if status >= 500:
        return ErrorKind.UNAVAILABLE, "Name.com is having trouble; try again in a few minutes"
    if status in (400, 415, 422):
        return ErrorKind.VALIDATION, ""
    return ErrorKind.UNKNOWN, ""


def record_from_wire(zone: Zone, item: dict[str, Any]) -> Record:
    # `host` is absent at the apex and `priority` when zero (default values are left out).
    rtype = str(item["type"]).upper()
    name = item.get("fqdn") or absolute_name(str(item.get("host") or ""), zone.name)
    return Record(
        name=absolute_name(str(name), zone.name),
        type=rtype,
        content=neutral_content(rtype, str(item.get("answer", ""))),
        ttl=int(item["ttl"]),
        priority=int(item.get("priority") or 0) if rtype in PRIORITY_TYPES else None,
        provider_id=str(item["id"]),
    )


def record_to_wire(zone: Zone, record: Record) -> dict[str, Any]:
    """TXT answers go bare: Name.com quotes and splits them itself."""
    body: dict[str, Any] = {
        "host": relative_name(record.name, zone.name),
        "type": record.type,
        "answer": record.content,
        "ttl": record.ttl,
    }
    if record.type in PRIORITY_TYPES:
        body["priority"] = record.priority or 0
    return body


class NameComClient:
    """Calls of the Name.com API, answering wire-format dicts."""

    def __init__(
        self, username: str, token: str, base_url: str, retry: RetryPolicy | None = None
    ) -> None:
        self.http = ProviderHttp(
            base_url,
            title="Name.com",
            parse_error=parse_error,
            secrets=[token],
            headers={"Authorization": basic_auth(username, token)},
            retry=retry,
            pacer=RequestPacer(REQUESTS_PER_SECOND, 1.0),
        )

    async def hello(self) -> None:
        await self.http.call("GET", "/hello")

    async def domains(self) -> list[dict[str, Any]]:
        return await self._all_pages("/domains", "domains")

    async def records(self, domain: str) -> list[dict[str, Any]]:
        return await self._all_pages(f"/domains/{quote(domain)}/records", "records")

    async def create(self, domain: str, body: dict[str, Any]) -> None:
        await self.http.call("POST", f"/domains/{quote(domain)}/records", json=body)

    async def replace(self, domain: str, record_id: str, body: dict[str, Any]) -> None:
        path = f"/domains/{quote(domain)}/records/{quote(record_id)}"
        await self.http.call("PUT", path, json=body)

    async def delete(self, domain: str, record_id: str) -> None:
        path = f"/domains/{quote(domain)}/records/{quote(record_id)}"
        await self.http.call("DELETE", path)

    async def _all_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        for _ in range(MAX_PAGES):
            params = {"page": page, "perPage": PER_PAGE}
            body = await self.http.call("GET", path, params=params)
            body = body if isinstance(body, dict) else {}
            items.extend(i for i in body.get(key) or [] if isinstance(i, dict))
            next_page = body.get("nextPage")
            # nextPage appears only when there is one; a value not ahead of us ends the loop.
            if not isinstance(next_page, int) or next_page <= page:
                break
            page = next_page
        return items
