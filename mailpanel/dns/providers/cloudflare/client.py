"""Cloudflare API v4 wire format: the envelope, error codes, paging and record bodies."""

from __future__ import annotations

from typing import Any

from mailpanel.dns.providers.base import neutral_content, normalize_name, quote_txt
from mailpanel.dns.providers.http import ProviderHttp, RetryPolicy
from mailpanel.dns.types import ErrorKind, ProviderError, Record

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
AUTH_CODES = frozenset({1000, 9109, 10000})
DUPLICATE_CODES = frozenset({81057, 81058})
# 7003 "Could not route to /zones/<id>/..., perhaps your object identifier is invalid?": the
# path exists but the zone does not (deleted, or not this token's); 81044: no such record.
NOT_FOUND_CODES = frozenset({7003, 81044})
NO_ROUTE_CODE = 7000  # "No route for that URI"
NO_ROUTE_HINT = "Cloudflare has no such API endpoint; check the API base URL"
RATE_LIMIT_CODES = frozenset({10100})
AUTH_HINT = "the API token was revoked or lacks DNS edit permission for this zone"
PRIORITY_TYPES = frozenset({"MX", "SRV"})
ZONES_PER_PAGE = 50
RECORDS_PER_PAGE = 5000
MAX_PAGES = 10_000  # a server that never answers an empty page must not loop us forever
BatchOps = dict[str, list[dict[str, Any]]]


def parse_error(status: int, body: Any) -> ProviderError:
    errors = body.get("errors") if isinstance(body, dict) else None
    items = [e for e in errors or [] if isinstance(e, dict)]
    codes = {e.get("code") for e in items}
    message = "; ".join(str(e.get("message", "")) for e in items)
    kind, hint = classify(status, codes)
    return ProviderError(kind, message or f"Cloudflare answered HTTP {status}", hint, status)


def classify(status: int, codes: set[Any]) -> tuple[ErrorKind, str]:
    if codes & DUPLICATE_CODES:
        return ErrorKind.DUPLICATE, "the record already exists at Cloudflare; plan again"
    if codes & AUTH_CODES or status in (401, 403):
        return ErrorKind.AUTH, AUTH_HINT
    if status == 429 or codes & RATE_LIMIT_CODES:
        return ErrorKind.RATE_LIMITED, "Cloudflare allows 1,200 requests per 5 minutes per token"
    if no_route(status, codes):
        return ErrorKind.UNKNOWN, NO_ROUTE_HINT
    if codes & NOT_FOUND_CODES or status == 404:
        return ErrorKind.NOT_FOUND, "plan again: the zone or record is gone"
    if status >= 500:
        return ErrorKind.UNAVAILABLE, "Cloudflare is having trouble; try again in a few minutes"
    if status == 400:
        return ErrorKind.VALIDATION, ""
    return ErrorKind.UNKNOWN, ""


def no_route(status: int, codes: set[Any]) -> bool:
    """Cloudflare found no endpoint for the request, so nothing was done.

    405: the path exists for other methods only. 7000 "No route for that URI" comes with 404
    (and with 400 in reports of the real API); but next to 7003 it only means the zone id in a
    path that does exist is unknown, which is a real error. A 404 with no Cloudflare error code
    at all did not come from the API's handlers (a gateway in front of it), so nothing ran.
    """
    if status == 405:
        return True
    if codes & NOT_FOUND_CODES:
        return False
    if NO_ROUTE_CODE in codes:
        return status in (400, 404)
    return status == 404 and not codes


def is_no_route(error: ProviderError) -> bool:
    """Whether the error is a `no_route` answer.

    ProviderHttp rebuilds every error to scrub secrets from it, keeping only kind, words, hint
    and status, so parse_error's verdict (it alone sees the error codes) travels in the hint.
    """
    return error.hint == NO_ROUTE_HINT


def result_of(body: Any) -> Any:
    """The `result` of a success envelope; a `success: false` answer raises even with 200."""
    if not isinstance(body, dict) or body.get("success") is not True:
        raise parse_error(200, body)
    return body.get("result")


def record_from_wire(item: dict[str, Any]) -> Record:
    rtype = str(item["type"]).upper()
    priority = item.get("priority")
    return Record(
        name=normalize_name(str(item["name"])),  # always full on the wire
        type=rtype,
        content=neutral_content(rtype, str(item.get("content", ""))),
        ttl=int(item["ttl"]),
        priority=int(priority) if rtype in PRIORITY_TYPES and priority is not None else None,
        provider_id=str(item["id"]),
    )


def record_to_wire(record: Record) -> dict[str, Any]:
    """A request body: full name, TXT quoted in 255-byte strings, priority only where used."""
    content = quote_txt(record.content) if record.type == "TXT" else record.content
    body: dict[str, Any] = {
        "type": record.type,
        "name": record.name,
        "content": content,
        "ttl": record.ttl,
    }
    if record.type in PRIORITY_TYPES:
        body["priority"] = record.priority or 0
    return body


class CloudflareClient:
    """Calls of the Cloudflare API, answering wire-format dicts."""

    def __init__(self, token: str, base_url: str, retry: RetryPolicy | None = None) -> None:
        self.http = ProviderHttp(
            base_url,
            title="Cloudflare",
            parse_error=parse_error,
            secrets=[token],
            headers={"Authorization": f"Bearer {token}"},
            retry=retry,
        )

    async def verify_token(self) -> dict[str, Any]:
        result = result_of(await self.http.call("GET", "/user/tokens/verify"))
        return result if isinstance(result, dict) else {}

    async def zones(self) -> list[dict[str, Any]]:
        return await self._all_pages("/zones", ZONES_PER_PAGE)

    async def records(self, zone_id: str) -> list[dict[str, Any]]:
        return await self._all_pages(f"/zones/{zone_id}/dns_records", RECORDS_PER_PAGE)

    async def batch(self, zone_id: str, ops: BatchOps) -> None:
        body = await self.http.call("POST", f"/zones/{zone_id}/dns_records/batch", json=ops)
        result_of(body)

    async def create(self, zone_id: str, body: dict[str, Any]) -> None:
        result_of(await self.http.call("POST", f"/zones/{zone_id}/dns_records", json=body))

    async def patch(self, zone_id: str, record_id: str, body: dict[str, Any]) -> None:
        path = f"/zones/{zone_id}/dns_records/{record_id}"
        result_of(await self.http.call("PATCH", path, json=body))

    async def delete(self, zone_id: str, record_id: str) -> None:
        result_of(await self.http.call("DELETE", f"/zones/{zone_id}/dns_records/{record_id}"))

    async def _all_pages(self, path: str, per_page: int) -> list[dict[str, Any]]:
        # Cloudflare pages until an empty page, as its SDK does: total_pages may lag behind
        # records added while we page, and the server may clamp per_page.
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            params = {"page": page, "per_page": per_page}
            chunk = result_of(await self.http.call("GET", path, params=params))
            if not chunk:
                break
            items.extend(c for c in chunk if isinstance(c, dict))
        return items
