"""OpenProvider REST v1beta wire format: login tokens, the code/desc envelope, zone updates."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from mailpanel.dns.providers.base import absolute_name, neutral_content, relative_name
from mailpanel.dns.providers.http import ProviderHttp, RetryPolicy
from mailpanel.dns.types import ErrorKind, ProviderError, Record, Zone

DEFAULT_BASE_URL = "https://api.openprovider.eu/v1beta"
PAGE_LIMIT = 500
MAX_PAGES = 10_000
AUTH_FAILED = 196
ACCESS_DENIED = 10005
# Tokens last about 48 hours; renew an hour early rather than meet a 196 mid-apply.
TOKEN_LIFETIME_S = 47 * 3600.0
AUTH_HINT = "check the OpenProvider username and password, and that API access is enabled for them"
BLOCKED_HINT = (
    "OpenProvider blocks an IP after 300 identical calls in 300 s or 100 failed logins an "
    "hour; wait, and check the credentials"
)
PRIORITY_TYPES = frozenset({"MX", "SRV"})
CacheKey = tuple[str, str, str]


def parse_error(status: int, body: Any) -> ProviderError:
    code, desc = 0, ""
    if isinstance(body, dict):
        raw_code, desc = body.get("code"), str(body.get("desc") or "")
        code = raw_code if isinstance(raw_code, int) else 0
    kind, hint = classify(status, code, desc)
    return ProviderError(kind, desc or f"OpenProvider answered HTTP {status}", hint, status)


def classify(status: int, code: int, desc: str) -> tuple[ErrorKind, str]:
    words = desc.lower()
    if code == AUTH_FAILED or status == 401:
        return ErrorKind.AUTH, AUTH_HINT
    if code == ACCESS_DENIED or status == 429:
        return ErrorKind.RATE_LIMITED, BLOCKED_HINT
    if "duplicate" in words:
        return ErrorKind.DUPLICATE, "the record already exists at OpenProvider; plan again"
    if "not found" in words or status == 404:
        return ErrorKind.NOT_FOUND, "plan again: the zone or record is gone"
    if status >= 500:
        return ErrorKind.UNAVAILABLE, "OpenProvider is having trouble; try again in a few minutes"
    if status == 400:
        return ErrorKind.VALIDATION, ""
    return ErrorKind.UNKNOWN, ""


def data_of(body: Any) -> Any:
    """`data` of a `code: 0` answer: an error may come with HTTP 200 and a non-zero code."""
    if not isinstance(body, dict) or body.get("code") != 0:
        raise parse_error(200, body)
    return body.get("data")


def record_from_wire(zone: Zone, item: dict[str, Any]) -> Record:
    # Names may come back full or relative, TXT values wrapped in quotes: normalise both.
    rtype = str(item["type"]).upper()
    return Record(
        name=absolute_name(str(item.get("name") or ""), zone.name),
        type=rtype,
        content=neutral_content(rtype, str(item.get("value", ""))),
        ttl=int(item["ttl"]),
        priority=int(item.get("prio") or 0) if rtype in PRIORITY_TYPES else None,
    )


def record_to_wire(zone: Zone, record: Record) -> dict[str, Any]:
    """All five fields, since OpenProvider matches records on them: relative name, prio 0."""
    return {
        "name": relative_name(record.name, zone.name),
        "type": record.type,
        "value": record.content,
        "ttl": record.ttl,
        "prio": record.priority or 0,
    }


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float  # time.monotonic()


class OpenProviderClient:
    """Calls of the OpenProvider API with a cached login token, answering wire-format data."""

    # At most 30 logins a minute per account: tokens are shared by every client object of the
    # process. The key holds a digest of the password, so a wrong password never gets another
    # caller's token.
    _tokens: ClassVar[dict[CacheKey, CachedToken]] = {}
    _tokens_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, username: str, password: str, base_url: str, retry: RetryPolicy | None = None
    ) -> None:
        self.http = ProviderHttp(
            base_url,
            title="OpenProvider",
            parse_error=parse_error,
            secrets=[password],
            retry=retry,
        )
        self._username, self._password = username, password
        digest = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        self._key: CacheKey = (base_url.rstrip("/"), username, digest)
        self._login_lock = asyncio.Lock()

    @classmethod
    def forget_tokens(cls) -> None:
        """Drop every cached token (after a credential change; tests)."""
        with cls._tokens_lock:
            cls._tokens.clear()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An authenticated call; logs in again once if the token was refused (code 196)."""
        token = await self._token()
        try:
            return await self._authed(method, path, token, **kwargs)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.AUTH:
                raise
            self._forget(token)
            return await self._authed(method, path, await self._token(), **kwargs)

    async def zones(self) -> list[dict[str, Any]]:
        return await self._all_pages("/dns/zones")

    async def records(self, zone_name: str) -> list[dict[str, Any]]:
        return await self._all_pages(f"/dns/zones/{quote(zone_name)}/records")

    async def update_zone(self, zone: Zone, records: dict[str, list[Any]]) -> None:
        body = {"id": int(zone.id) if zone.id.isdigit() else zone.id, "name": zone.name}
        # Not retried on 5xx although a PUT: it adds and removes records, so a second send of
        # an applied update would fail on duplicates. The next plan completes it instead.
        path = f"/dns/zones/{quote(zone.name)}"
        result = await self.call("PUT", path, json={**body, "records": records}, idempotent=False)
        if isinstance(result, dict) and result.get("success") is False:
            raise ProviderError(ErrorKind.UNKNOWN, "OpenProvider did not apply the zone update")

    async def fresh_login(self) -> None:
        """Log in now, whatever is cached (verify: the password may have changed since)."""
        async with self._login_lock:
            self._store(await self.login())

    async def login(self) -> str:
        body = {"username": self._username, "password": self._password, "ip": "0.0.0.0"}  # noqa: S104
        # A login changes nothing at the provider, so it is safe to retry on 5xx.
        answer = await self.http.call(
            "POST", "/auth/login", json=body, kind="login", idempotent=True
        )
        data = data_of(answer)
        token = str(data.get("token") or "") if isinstance(data, dict) else ""
        if not token:
            raise ProviderError(ErrorKind.UNKNOWN, "OpenProvider answered a login without token")
        self.http.add_secret(token)
        return token

    async def _authed(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        return data_of(await self.http.call(method, path, headers=headers, **kwargs))

    async def _token(self) -> str:
        async with self._login_lock:  # concurrent calls of this object share one login
            with self._tokens_lock:
                cached = self._tokens.get(self._key)
            if cached is not None and cached.expires_at > time.monotonic():
                self.http.add_secret(cached.token)
                return cached.token
            token = await self.login()
            self._store(token)
            return token

    def _store(self, token: str) -> None:
        with self._tokens_lock:
            self._tokens[self._key] = CachedToken(token, time.monotonic() + TOKEN_LIFETIME_S)

    def _forget(self, token: str) -> None:
        with self._tokens_lock:
            cached = self._tokens.get(self._key)
            if cached is not None and cached.token == token:
                del self._tokens[self._key]

    async def _all_pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            params = {"limit": PAGE_LIMIT, "offset": len(items)}
            data = await self.call("GET", path, params=params)
            data = data if isinstance(data, dict) else {}
            results = [r for r in data.get("results") or [] if isinstance(r, dict)]
            items.extend(results)
            total = data.get("total")
            if not results or (isinstance(total, int) and len(items) >= total):
                break
        return items
