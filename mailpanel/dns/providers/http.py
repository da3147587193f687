"""The one door to DNS provider HTTP APIs: timeouts, identity, retries, pacing, redaction.

Every provider client sends its requests through :class:`ProviderHttp`, so the rules below
hold for all of them and a test points one at a lab fake by its base URL.

Retry policy, and why:

- 429: the provider refused the request without applying it, so any method is retried after
  its ``retry-after`` (seconds or an HTTP-date), each wait capped, all waits within a budget.
- 5xx, timeouts, broken connections: retried with exponential backoff and full jitter, but
  only for idempotent requests (GET, HEAD, PUT, PATCH, DELETE, unless the caller says
  otherwise). A POST that creates a record may have been applied before the 5xx came back;
  sending it again could create it twice. It is raised as UNAVAILABLE instead, and the next
  plan (plan-then-apply) reads what really is at the provider and completes the change.
- A connection that failed before the request left (connect error, no pooled connection) is
  retried for any method: nothing can have been applied.

Nothing identifying the user is sent beyond the provider's own credential: a fixed
User-Agent, no proxy or netrc from the environment, no redirects followed. Error messages pass
through the vault's redaction with this client's secrets, and never include headers.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from mailpanel.dns.types import ErrorKind, ProviderError
from mailpanel.vault.redaction import redact, register_secret

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
NOT_RETRIED_HINT = (
    "the change may or may not have been applied; plan again to see what is there before retrying"
)

CallKind = Literal["read", "write", "login"]
# (HTTP status, decoded JSON body or the raw text) -> the provider's error in our terms
ErrorParser = Callable[[int, Any], ProviderError]


@functools.cache
def user_agent() -> str:
    try:
        version = metadata.version("mailpanel")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"MailPanelPro/{version}"


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one request. The defaults suit the real providers."""

    max_attempts: int = 5  # tries of a request failing with 5xx or a network error
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 5.0
    max_rate_limited: int = 10  # 429 answers ridden out for one request
    retry_after_cap_s: float = 60.0  # longest single wait, whatever retry-after says
    budget_s: float = 120.0  # longest total wait for one request

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**retry)], so clients spread out."""
        return rng.uniform(0.0, min(self.backoff_cap_s, self.backoff_base_s * 2**retry))


@dataclass
class CallCounts:
    """Logical calls (a retried request counts once) and HTTP attempts (retries included)."""

    reads: int = 0
    writes: int = 0
    logins: int = 0
    attempts: int = 0

    def snapshot(self) -> CallCounts:
        return CallCounts(self.reads, self.writes, self.logins, self.attempts)


class _RetryState:
    """How long to wait before the next attempt of one request, or None to stop."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy, self.rng = policy, rng
        self.failures = 0
        self.limited = 0
        self.waited = 0.0

    def after_failure(self) -> float | None:
        self.failures += 1
        if self.failures >= self.policy.max_attempts:
            return None
        return self._spend(self.policy.backoff(self.failures - 1, self.rng))

    def after_429(self, retry_after: float | None) -> float | None:
        self.limited += 1
        if self.limited > self.policy.max_rate_limited:
            return None
        if retry_after is None:
            retry_after = self.policy.backoff(self.limited - 1, self.rng)
        return self._spend(min(retry_after, self.policy.retry_after_cap_s))

    def _spend(self, delay: float) -> float | None:
        if self.waited + delay > self.policy.budget_s:
            return None
        self.waited += delay
        return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a retry-after header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RequestPacer:
    """At most `limit` request starts in any `window_s` seconds (a sliding window).

    For providers with a per-second cap (Name.com: 20/s): a concurrent apply then waits a few
    milliseconds here instead of a whole retry-after on a 429.
    """

    def __init__(self, limit: int, window_s: float = 1.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.window_s:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                await asyncio.sleep(self._starts[0] + self.window_s - now)


def check_base_url(base_url: str) -> None:
    """Credentials travel only over HTTPS; plain HTTP only to loopback (the lab fakes)."""
    url = urlsplit(base_url)
    if url.scheme == "https" or (url.scheme == "http" and url.hostname in LOOPBACK_HOSTS):
        return
    raise ValueError(f"DNS provider URL must be https:// (http only on loopback): {base_url!r}")


class ProviderHttp:
    """An httpx.AsyncClient for one provider account, with the retry policy above."""

    def __init__(
        self,
        base_url: str,
        *,
        title: str,
        parse_error: ErrorParser,
        secrets: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        pacer: RequestPacer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        check_base_url(base_url)
        self.title = title
        self.retry = retry or RetryPolicy()
        self.counts = CallCounts()
        self._parse_error = parse_error
        self._pacer = pacer
        self._rng = rng or random.Random()
        self._secrets: list[str] = []
        self.add_secret(*secrets, *credentials_in(headers or {}))
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"User-Agent": user_agent(), "Accept": "application/json", **(headers or {})},
            timeout=TIMEOUT,
            trust_env=False,  # no proxy, netrc or SSL_CERT_FILE from the environment
            follow_redirects=False,
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def add_secret(self, *values: str) -> None:
        """Values to scrub from every error and log line (tokens obtained later included)."""
        fresh = [v for v in values if v and v not in self._secrets]
        self._secrets.extend(fresh)
        register_secret(*fresh)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        kind: CallKind | None = None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send a request (retrying as the policy allows); the decoded JSON body, or raise."""
        self._count(kind or ("read" if method in ("GET", "HEAD") else "write"))
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        request = self._client.build_request(method, path, params=params, json=json)
        if headers:
            self.add_secret(*credentials_in(headers))
            request.headers.update(headers)
        response = await self._send(request, idempotent)
        body = decode_body(response)
        if response.is_success:
            return body
        error = self._parse_error(response.status_code, body)
        if response.status_code in RETRYABLE_STATUSES and not idempotent:
            error.hint = NOT_RETRIED_HINT
        raise self.scrubbed(error)

    def scrubbed(self, error: ProviderError) -> ProviderError:
        """The same error with every known secret removed from its words."""
        message = redact(error.provider_message, self._secrets)
        hint = redact(error.hint, self._secrets)
        return ProviderError(error.kind, message, hint, error.status)

    def _count(self, kind: CallKind) -> None:
        if kind == "read":
            self.counts.reads += 1
        elif kind == "write":
            self.counts.writes += 1
        else:
            self.counts.logins += 1

    async def _send(self, request: httpx.Request, idempotent: bool) -> httpx.Response:
        state = _RetryState(self.retry, self._rng)
        while True:
            try:
                response = await self._attempt(request)
            except httpx.TransportError as exc:
                retryable = idempotent or isinstance(exc, httpx.ConnectError | httpx.PoolTimeout)
                delay = state.after_failure() if retryable else None
                if delay is None:
                    raise self._unreachable(request, exc, idempotent) from exc
                self._log_retry(request, type(exc).__name__, delay)
            else:
                delay = self._delay_for(response, state, idempotent)
                if delay is None:
                    return response
                self._log_retry(request, str(response.status_code), delay)
            await asyncio.sleep(delay)

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        if self._pacer is not None:
            await self._pacer.wait()
        self.counts.attempts += 1
        return await self._client.send(request)

    @staticmethod
    def _delay_for(response: httpx.Response, state: _RetryState, idempotent: bool) -> float | None:
        if response.status_code == 429:
            return state.after_429(parse_retry_after(response.headers.get("retry-after")))
        if response.status_code in RETRYABLE_STATUSES and idempotent:
            return state.after_failure()
        return None

    def _unreachable(
        self, request: httpx.Request, exc: httpx.TransportError, idempotent: bool
    ) -> ProviderError:
        hint = "check the network and the provider's status page, then try again"
        if not idempotent and not isinstance(exc, httpx.ConnectError | httpx.PoolTimeout):
            hint = NOT_RETRIED_HINT
        message = f"{self.title} did not answer {request.method} {request.url.path}: "
        error = ProviderError(ErrorKind.UNAVAILABLE, message + type(exc).__name__, hint)
        return self.scrubbed(error)

    def _log_retry(self, request: httpx.Request, why: str, delay: float) -> None:
        log.warning(
            "%s: %s %s got %s, retrying in %.2f s",
            self.title,
            request.method,
            request.url.path,
            why,
            delay,
        )


def credentials_in(headers: Mapping[str, str]) -> list[str]:
    """The Authorization value and its credential part, as they could be echoed back."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return [value, value.partition(" ")[2]] if value else []


def decode_body(response: httpx.Response) -> Any:
    """JSON body, {} when empty, or the raw text (cut short) when it is not JSON."""
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
