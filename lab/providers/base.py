"""Scaffolding shared by the DNS provider fakes: HTTP server, request log, faults, rate limits.

A fake is a real HTTP server on loopback (stdlib ThreadingHTTPServer, no dependencies) that a
panel client talks to exactly as to the provider. Subclasses set `provider`, `prefix`, the
routes and the provider's error envelope; everything here is provider-neutral.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import random
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from lab.zonestore import Row, ZoneStore

LOOPBACK = ("127.0.0.1", "localhost")


class BadRequest(Exception):
    """The request body or a field is invalid; the message is shown to the client."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code  # provider error code, 0 = the provider's default for bad requests


@dataclass
class Request:
    method: str
    path: str  # below the provider prefix, e.g. "/zones/abc"
    query: dict[str, str]
    headers: dict[str, str]  # lowercase names
    body: str
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern
    account: str = ""  # set by the subclass's authenticate()

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else {}
        except ValueError as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        return data

    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return (user, password) if sep else None

    def bearer(self) -> str | None:
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@dataclass
class Response:
    status: int
    body: Any  # JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # full path as received, prefix included
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    status: int
    duration_s: float


@dataclass
class RateLimit:
    """At most `limit` requests per fixed `window_s` window, per rate-limit key."""

    limit: int
    window_s: float


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True


class FakeProvider:
    """Base class of the fakes. Knobs may be changed while the server runs."""

    provider: ClassVar[str] = ""
    prefix: ClassVar[str] = ""
    default_rate_limits: ClassVar[tuple[RateLimit, ...]] = ()

    def __init__(self, store: ZoneStore, *, seed: int = 0) -> None:
        self.store = store
        self.latency_s = 0.0
        self.error_rate = 0.0
        self.force_429 = 0
        self.retry_after_s = 1  # retry-after of forced 429s
        self.rate_limits: list[RateLimit] = list(self.default_rate_limits)
        self.requests: list[RecordedRequest] = []
        self.clock: Callable[[], float] = time.monotonic  # replaceable to test expiry/windows
        self._rng = random.Random(seed)  # deterministic error injection
        self._windows: dict[tuple[str, int], list[float]] = {}  # key -> [start, count]
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- hooks for subclasses -------------------------------------------------------------

    def error(self, status: int, message: str, code: int = 0) -> Response:
        raise NotImplementedError

    def authenticate(self, req: Request) -> Response | None:
        """Set req.account and return None, or return the provider's auth error."""
        raise NotImplementedError

    def rate_limit_key(self, req: Request) -> str:
        return req.headers.get("authorization", "")

    def rate_limited(self, retry_after: int) -> Response:
        return self.error(429, "Too Many Requests")

    def route(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        self._routes.append(Route(method, re.compile(f"^{pattern}$"), handler, auth))

    # -- accounts and zones ---------------------------------------------------------------

    def new_zone_id(self) -> str | None:
        """None lets the store pick a hex id; OpenProvider wants numeric ones."""
        return None

    def add_zone(self, account: str, name: str) -> Row:
        """The account's zone of that name, created (and delegated if free) when missing."""
        zone = self.store.zone_by_name(self.provider, account, name)
        return zone or self.store.create_zone(self.provider, account, name, self.new_zone_id())

    def add_zones(self, account: str, names: Iterable[str]) -> dict[str, Row]:
        zones = (self.add_zone(account, name) for name in names)
        return {zone["name"]: zone for zone in zones}

    def account_zones(self, account: str) -> list[Row]:
        return self.store.zones(self.provider, account)

    # -- counters -------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def write_count(self) -> int:
        return sum(1 for r in self.requests if r.method != "GET")

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self._windows.clear()

    # -- server ---------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url + self.prefix

    def _bind(self, host: str, port: int) -> ThreadingHTTPServer:
        if host not in LOOPBACK:
            raise ValueError(f"lab rule: fakes bind to 127.0.0.1 only, not {host!r}")
        server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        return server

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        server = self._bind(host, port)
        # A short poll interval keeps stop() (which waits for the loop to notice) fast.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"fake-{self.provider}", daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Blocking variant for the command line; prints the base URL first."""
        server = self._bind(host, port)
        print(f"{self.provider} fake listening on {self.base_url}", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request pipeline -----------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Faults first (as a flaky network or gateway would), then rate limit, auth, route."""
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        fault = self._injected_fault()
        if fault is not None:
            return fault
        limited = self._check_rate_limit(self.rate_limit_key(req))
        if limited is not None:
            return limited
        try:
            return self._dispatch(req)
        except BadRequest as exc:
            return self.error(400, str(exc), exc.code)
        except Exception as exc:  # a bug in the fake: answer 500 rather than drop the connection
            traceback.print_exc()
            return self.error(500, f"lab fake internal error: {exc!r}")

    def _injected_fault(self) -> Response | None:
        with self._lock:
            if self.force_429 > 0:
                self.force_429 -= 1
                return self._with_retry_after(
                    self.rate_limited(self.retry_after_s), self.retry_after_s
                )
            if self.error_rate > 0 and self._rng.random() < self.error_rate:
                status = self._rng.choice((500, 502, 503))
                return self.error(status, "Injected server error (lab fault injection)")
        return None

    def _check_rate_limit(self, key: str) -> Response | None:
        now = self.clock()
        worst = 0
        with self._lock:
            for index, rule in enumerate(self.rate_limits):
                window = self._windows.setdefault((key, index), [now, 0])
                if now >= window[0] + rule.window_s:
                    window[:] = [now, 0]
                window[1] += 1
                if window[1] > rule.limit:
                    worst = max(worst, math.ceil(window[0] + rule.window_s - now))
        if worst:
            return self._with_retry_after(self.rate_limited(worst), worst)
        return None

    @staticmethod
    def _with_retry_after(response: Response, seconds: int) -> Response:
        response.headers["retry-after"] = str(max(1, seconds))
        return response

    def _dispatch(self, req: Request) -> Response:
        allowed = False
        for route in self._routes:
            match = route.pattern.match(req.path)
            if match is None:
                continue
            if route.method != req.method:
                allowed = True
                continue
            req.params = match.groupdict()
            if route.auth:
                denied = self.authenticate(req)
                if denied is not None:
                    return denied
            return route.handler(req)
        if allowed:
            return self.error(405, "Method not allowed")
        return self.error(404, f"No route for {req.method} {self.prefix}{req.path}")

    def record(self, req: Request, full_path: str, status: int, started: float) -> None:
        duration = time.monotonic() - started
        entry = RecordedRequest(
            req.method, full_path, req.query, req.headers, req.body, status, duration
        )
        with self._lock:
            self.requests.append(entry)


def _make_handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of a real API
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True
        server_version = f"lab-fake-{fake.provider}"

        def _serve(self) -> None:
            started = time.monotonic()
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            req = Request(
                self.command,
                url.path,
                dict(parse_qsl(url.query, keep_blank_values=True)),
                headers,
                self._read_body(headers),
            )
            if url.path == fake.prefix or url.path.startswith(fake.prefix + "/"):
                req.path = url.path[len(fake.prefix) :] or "/"
                response = fake.handle(req)
            else:
                response = fake.error(404, f"No route for {url.path}")
            # Logged before the answer goes out: a client that has its response must find
            # its request in the log (the other order let a test read the log too early).
            fake.record(req, url.path, response.status, started)
            self._send(response)

        def _read_body(self, headers: dict[str, str]) -> str:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return self._read_chunked()
            length = int(headers.get("content-length") or 0)
            return self.rfile.read(length).decode("utf-8", "replace") if length else ""

        def _read_chunked(self) -> str:
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()  # trailing CRLF (trailers are not used by clients)
                    return b"".join(chunks).decode("utf-8", "replace")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        def _send(self, response: Response) -> None:
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the fake keeps its own request log."""

    return _Handler


# -- command line ---------------------------------------------------------------------------


def cli_main(
    factory: Callable[[ZoneStore], FakeProvider],
    add_account: Callable[[FakeProvider, list[str]], None],
    account_help: str,
    argv: Sequence[str] | None = None,
) -> None:
    """`python -m lab.providers.NAME --db PATH --port N --account SPEC ...` (blocks)."""
    parser = argparse.ArgumentParser(description="Run a DNS provider fake on loopback.")
    parser.add_argument("--db", required=True, help="zone store (SQLite file)")
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account", action="append", default=[], help=account_help)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share answered 5xx")
    args = parser.parse_args(argv)
    fake = factory(ZoneStore(args.db))
    fake.latency_s, fake.error_rate = args.latency, args.error_rate
    for spec in args.account:
        add_account(fake, spec.split(":"))
    # SIGTERM (how `mailpanel lab up` stops us) exits through serve_forever's cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        fake.serve_forever(args.host, args.port)
