"""The lab's Stripe front: the HTTP server the panel's ``stripe.api_base`` points at.

localstripe (started by ``lab.stripe_lab`` in a process of its own, never imported here)
holds the state: customers, products, plans, subscriptions, payment methods, invoices and
events. It has no Checkout, no Billing Portal and no Prices, so this front, on loopback,
answers those itself and passes every other request to localstripe unchanged, except that:

- ``items[N][price]`` in a subscription create or update is sent as ``items[N][plan]``
  (localstripe answers a bare 400 to ``price``; a plan id is a valid price id at Stripe);
- subscription items in its answers gain a ``price`` mirroring their ``plan`` and the
  subscription's ``current_period_start``/``_end`` (where the SDK's API version has them),
  and ``GET /v1/prices/{id}`` answers from the plans;
- a subscription whose payment the lab failed (``/_lab/fail_payment``) reads ``past_due``
  in every answer, as the events say, until an invoice of it is paid.

Events: after each request the front reads localstripe's own new events from its event
list and delivers them, with the events only the front knows of (checkout, portal, lab
controls), to every webhook registered through ``POST /_lab/webhooks``, signed as Stripe
signs (``Stripe-Signature: t=<unix>,v1=<hmac-sha256(secret, "<t>.<body>")>``), from one
thread and in order (``lab.stripe_events``). Every event is kept with its deliveries
(``GET /_lab/events``). The routes themselves are ``lab.stripe_account``'s.

Every ``/v1`` request is written to the request log: that log is what the panel sent.
The lab's own pages (``lab.stripe_pages``, a test's browser) and ``/_lab`` controls are not.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import secrets
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

JSON = dict[str, Any]
API_VERSION = "2017-08-15"  # what localstripe stamps on its events; the front's match
FRONT_KEY = "sk_test_lab_front"  # localstripe takes any sk_ key
DECLINED_LATER = "4000000000000341"  # attaches, then every charge to it fails
_ALNUM = string.ascii_letters + string.digits
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-type",
    "date",
    "server",
}
_PRICE_KEY = re.compile(r"^items\[(\d+)\]\[price\]$")
_SUBSCRIPTION_WRITE = re.compile(r"^/v1/subscriptions(/sub_\w+)?$")


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(24))


class StripeError(Exception):
    """An error answered in Stripe's shape: ``{"error": {"type", "message", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.param, self.code, self.kind = status, param, code, kind

    def body(self) -> JSON:
        error: JSON = {"type": self.kind, "message": str(self)}
        error.update({k: v for k, v in (("param", self.param), ("code", self.code)) if v})
        return {"error": error}

    @classmethod
    def from_reply(cls, status: int, body: bytes, what: str) -> StripeError:
        """localstripe's error as the SDK expects it (its router answers plain text)."""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            error = json.loads(body)["error"]
            kind = "card_error" if status == 402 else error.get("type", "invalid_request_error")
            message = error.get("message") or "Bad request"
            # Stripe names a missing object "resource_missing"; localstripe names none.
            code = error.get("code") or ("resource_missing" if status == 404 else None)
            return cls(status, message, param=error.get("param"), code=code, kind=kind)
        if status in (404, 405):
            return cls(404, f"Unrecognized request URL ({what}).")
        message = f"localstripe failed on {what} (often: a parameter it does not support)"
        return cls(status, message, kind="api_error")


def no_such(kind: str, ident: str, param: str) -> StripeError:
    return StripeError(400, f"No such {kind}: '{ident}'", param=param, code="resource_missing")


# --- localstripe ----------------------------------------------------------------------


class Upstream:
    """localstripe over loopback HTTP, spoken to with the front's own key."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout

    def send(
        self, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, target, body=body or None, headers=dict(headers or {}))
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def call(self, method: str, path: str, params: Mapping[str, str] | None = None) -> JSON:
        encoded = urlencode(dict(params or {}))
        target = f"{path}?{encoded}" if encoded and method != "POST" else path
        body = encoded.encode() if method == "POST" else b""
        headers = {
            "Authorization": f"Bearer {FRONT_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, _, data = self.send(method, target, body, headers)
        if status >= 400:
            raise StripeError.from_reply(status, data, f"{method}: {path}")
        result: JSON = json.loads(data)
        return result


def price_of(plan: JSON) -> JSON:
    """A plan as a Price: at Stripe a plan's id is a valid price id."""
    recurring = {
        "interval": plan["interval"],
        "interval_count": plan["interval_count"],
        "usage_type": plan.get("usage_type", "licensed"),
    }
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan["active"],
        "currency": plan["currency"],
        "unit_amount": plan["amount"],
        "product": plan["product"],
        "recurring": recurring,
        "type": "recurring",
        "nickname": plan.get("nickname"),
        "metadata": plan.get("metadata") or {},
        "created": plan["created"],
        "livemode": False,
    }


def present(value: Any, overrides: Mapping[str, str]) -> Any:
    """localstripe's JSON as the panel sees it (see the module docstring)."""
    if isinstance(value, list):
        return [present(item, overrides) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: present(item, overrides) for key, item in value.items()}
    kind = out.get("object")
    live = out.get("status") in ("active", "trialing")  # a cancel or an end wins
    if kind == "subscription" and live and out.get("id") in overrides:
        out["status"] = overrides[out["id"]]
    if kind == "subscription":  # the API the SDK speaks keeps the period on the items
        for item in (out.get("items") or {}).get("data", []):
            for key in ("current_period_start", "current_period_end"):
                item.setdefault(key, out.get(key))
    if kind == "subscription_item" and isinstance(out.get("plan"), dict) and "price" not in out:
        out["price"] = price_of(out["plan"])
    return out


# --- the request log -----------------------------------------------------------------


def flat_params(query: str, content_type: str, body: bytes) -> dict[str, str]:
    """Query and form (or JSON) parameters as one flat dict of the SDK's bracket keys."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if content_type.startswith("application/json") and body.strip():
        with contextlib.suppress(ValueError):
            params.update(_flatten(json.loads(body)))
    elif body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        flat: dict[str, str] = {}
        for key, item in items:
            flat.update(_flatten(item, f"{prefix}[{key}]" if prefix else str(key)))
        return flat
    return {
        prefix: ""
        if value is None
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    }


class RequestLog:
    """What the panel sent: a JSON line per ``/v1`` request (time, method, path, params)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def write(self, entry: JSON) -> None:
        with self._lock, self.path.open("a") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")

    def clear(self) -> None:
        with self._lock:
            self.path.write_text("")


def read_log(path: Path | str) -> list[JSON]:
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


# --- HTTP ---------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lowercase names
    body: bytes
    match: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        return flat_params(self.query, self.headers.get("content-type", ""), self.body)

    def json(self) -> JSON:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise StripeError(400, f"malformed JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise StripeError(400, "the body must be a JSON object")
        return data


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(data, indent=2, sort_keys=True).encode())

    @classmethod
    def error(cls, exc: StripeError) -> Reply:
        return cls.json(exc.body(), exc.status)

    @classmethod
    def redirect(cls, location: str) -> Reply:
        return cls(303, b"", "text/plain", [("Location", location)])


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str  # "*": any
    pattern: re.Pattern[str]
    handler: Handler


class HttpFront:
    """The server and its routes; what no route takes goes to ``fallback``."""

    def __init__(self, log: RequestLog) -> None:
        self.log = log
        self.routes: list[Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append(Route(method, re.compile(f"^{pattern}$"), handler))

    def fallback(self, req: Request) -> Reply:
        raise StripeError(404, f"Unrecognized request URL ({req.method}: {req.path}).")

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Stripe front is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"lab rule: the Stripe front binds to 127.0.0.1 only, not {host!r}")
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="stripe-lab-front", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def handle(self, req: Request) -> Reply:
        try:
            reply = self._dispatch(req)
        except StripeError as exc:
            reply = Reply.error(exc)
        except Exception as exc:  # a bug in the lab: answer like Stripe's 500, keep serving
            traceback.print_exc()
            reply = Reply.error(StripeError(500, f"lab front error: {exc!r}", kind="api_error"))
        if req.path.startswith("/v1/"):
            reply.headers.append(("Request-Id", new_id("req_")))
            self.log.write(
                {
                    "time": time.time(),
                    "method": req.method,
                    "path": req.path,
                    "params": req.params(),
                    "status": reply.status,
                    "idempotency_key": req.headers.get("idempotency-key"),
                }
            )
        return reply

    def _dispatch(self, req: Request) -> Reply:
        for route in self.routes:
            found = route.pattern.match(req.path)
            if found and route.method in ("*", req.method):
                req.match = found.groupdict()
                return route.handler(req)
        return self.fallback(req)


def _handler_class(front: HttpFront) -> type[BaseHTTPRequestHandler]:
    class FrontHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = front.handle(Request(self.command, parts.path, parts.query, headers, body))
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log is the record; stderr stays for tracebacks

    return FrontHandler


def translate_price(req: Request) -> bytes:
    """A subscription write's ``items[N][price]`` sent as ``items[N][plan]`` (see the top)."""
    form = req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if req.method != "POST" or not form or not _SUBSCRIPTION_WRITE.match(req.path):
        return req.body
    pairs = parse_qsl(req.body.decode(), keep_blank_values=True)
    return urlencode(
        [(_PRICE_KEY.sub(r"items[\1][plan]", key), value) for key, value in pairs]
    ).encode()


def passed_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in _HOP_HEADERS]
