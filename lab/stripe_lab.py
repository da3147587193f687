"""The lab's payment processor: localstripe in a process of its own, behind the lab's front.

In a test (the panel's ``STRIPE_API_BASE`` setting gets ``lab.api_base``)::

    with StripeLab(tmp_path / "stripe-requests.jsonl") as lab:
        lab.create_plan("pro-monthly", 900)
        lab.register_webhook("http://127.0.0.1:8123/billing/webhook", "whsec_lab")
        client = stripe.StripeClient(lab.api_key, base_addresses={"api": lab.api_base})
        ...  # the panel makes a Checkout Session; the test's browser pays on its /pay page
        lab.fail_payment(subscription_id)  # the next invoice fails: past_due
        lab.requests()  # what the panel sent

Command line (the ``stripe`` peer of ``python -m lab up``)::

    python -m lab.stripe_lab --port 18805 --localstripe-port 18806 --log run/stripe.jsonl

Test cards on the /pay page: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined
(402, nothing made); 4000 0000 0000 0341 is accepted but its charge fails (the
subscription stays ``incomplete``, its invoice ``open``, ``invoice.payment_failed`` is sent;
paying again with a good card completes the same session and subscription).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from lab import stripe_pages
from lab.peers import TAG
from lab.stripe_front import (
    DECLINED_LATER,
    JSON,
    EventHub,
    HttpFront,
    Reply,
    Request,
    RequestLog,
    StripeError,
    Upstream,
    make_event,
    new_id,
    no_such,
    passed_headers,
    present,
    price_of,
    read_log,
    translate_price,
)
from lab.stripe_pages import CheckoutSession, PortalSession

SUBSCRIPTION = re.compile(r"^/v1/subscriptions/(sub_\w+)$")
INVOICE_PAY = re.compile(r"^/v1/invoices/(in_\w+)/pay$")

# localstripe binds every interface ("::"); the lab listens on loopback only, so its app
# runs on 127.0.0.1 here, in its own process (GPL: the lab never imports it itself). It
# dies with the process that started it, even one killed with SIGKILL (PR_SET_PDEATHSIG),
# and tells that process its port. Its state starts empty (localstripe's --from-scratch).
_LOCALSTRIPE_MAIN = """
import ctypes, os, signal, socket, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
if os.getppid() != int(sys.argv[2]):
    sys.exit("localstripe: the lab process that started it is gone")
from aiohttp import web
from localstripe.server import app
sock = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print(sock.getsockname()[1], flush=True)
web.run_app(app, sock=sock, print=None, access_log=None)
"""


def requests(log_path: Path | str) -> list[JSON]:
    """The request log: what the panel sent (time, method, path, flat bracket-key params)."""
    return read_log(log_path)


class StripeLabError(RuntimeError):
    """localstripe did not start, or a lab control was refused."""


class StripeAccount(HttpFront):
    """The lab's Stripe account: localstripe's state plus the front's sessions and events.

    Serves the API (what it does not answer goes to localstripe), the pages
    (``lab.stripe_pages``) and the ``/_lab`` controls.
    """

    def __init__(self, localstripe_port: int, log_path: Path) -> None:
        super().__init__(RequestLog(log_path))
        self.upstream = Upstream(localstripe_port)
        self.hub = EventHub()
        self.checkouts: dict[str, CheckoutSession] = {}
        self.portals: dict[str, PortalSession] = {}
        self.overrides: dict[str, str] = {}  # subscription id -> status (fail_payment)
        # One conversation with localstripe at a time, so that the events read after a
        # request are that request's (localstripe serves one request at a time anyway).
        self.lock = threading.RLock()
        self._cursor: str | None = None
        self._add_routes()
        stripe_pages.install(self)

    def _add_routes(self) -> None:
        route = self.route
        route("POST", r"/v1/checkout/sessions", self.create_checkout)
        route("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self.get_checkout)
        route("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire", self.expire_checkout)
        route("POST", r"/v1/billing_portal/sessions", self.create_portal)
        route("*", r"/v1/(checkout|billing_portal)/.*", super().fallback)
        route("GET", r"/v1/prices/(?P<id>[^/]+)", self.get_price)
        route("GET", r"/v1/events/(?P<id>evt_\w+)", self.get_event)
        route("POST", r"/_lab/webhooks", self.register_webhook)
        route("DELETE", r"/_lab/webhooks", self.forget_webhooks)
        route("POST", r"/_lab/flush", self.flush)
        route("POST", r"/_lab/plans", self.create_plan)
        route("POST", r"/_lab/end_period", self.end_period)
        route("POST", r"/_lab/fail_payment", self.fail_payment)
        route("POST", r"/_lab/resend", self.resend)
        route("GET", r"/_lab/events", lambda req: Reply.json({"data": self.hub.listing()}))

    def stop(self) -> None:
        super().stop()
        self.hub.close()

    # --- localstripe and events ----------------------------------------------------------

    def call(self, method: str, path: str, params: dict[str, str] | None = None) -> JSON:
        result: JSON = present(self.upstream.call(method, path, params), self.overrides)
        return result

    def find(self, kind: str, path: str, param: str) -> JSON:
        """An object of localstripe's; a Stripe-shaped "No such ..." 400 when it has none."""
        try:
            return self.call("GET", path)
        except StripeError as exc:
            if exc.status == 404:
                raise no_such(kind, path.rsplit("/", 1)[1], param) from None
            raise

    def sync_events(self, drop: frozenset[str] = frozenset()) -> None:
        """Send localstripe's events made since the last look (``drop``: the lab's own doing).

        Read from its event list rather than its webhooks, which wait a second each, and so
        that the panel gets every event from one place, in order, and replays work.
        """
        while True:
            params = {"limit": "100"} | ({"starting_after": self._cursor} if self._cursor else {})
            page = self.call("GET", "/v1/events", params)
            for event in page["data"]:
                self._cursor = event["id"]
                if event["type"] not in drop:
                    self.hub.emit(event, "localstripe")
            if not page["has_more"] or not page["data"]:
                return

    def emit(self, kind: str, obj: JSON, previous: JSON | None = None) -> None:
        self.hub.emit(make_event(kind, obj, previous), "front")

    def emit_changes(self, before: JSON | None, after: JSON) -> None:
        """``customer.subscription.updated``, which localstripe never sends, when it changed."""
        if before is None:
            return
        previous = {key: before.get(key) for key in after if before.get(key) != after[key]}
        if previous:
            self.emit("customer.subscription.updated", after, previous)

    def update_subscription(self, subscription_id: str, params: dict[str, str]) -> JSON:
        with self.lock:
            before = self.call("GET", f"/v1/subscriptions/{subscription_id}")
            after = self.call("POST", f"/v1/subscriptions/{subscription_id}", params)
            self.sync_events()
            self.emit_changes(before, after)
        return after

    # --- the proxy ---------------------------------------------------------------------

    def fallback(self, req: Request) -> Reply:
        if req.path.startswith("/_config/"):
            raise StripeError(
                404, "localstripe's /_config is the lab's: use /_lab/flush, /_lab/webhooks"
            )
        target = f"{req.path}?{req.query}" if req.query else req.path
        names = ("authorization", "content-type", "accept")
        headers = {name: req.headers[name] for name in names if name in req.headers}
        with self.lock:
            ended = SUBSCRIPTION.match(req.path) if req.method == "DELETE" else None
            if ended:
                self.overrides.pop(ended[1], None)  # localstripe sends its .deleted itself
            watched = self._watched_subscription(req)
            before = self._subscription_or_none(watched)
            status, headers_out, body = self.upstream.send(
                req.method, target, translate_price(req), headers
            )
            self.sync_events()
            if status < 300 and watched:
                self._after_write(req, watched, before, body)
            if status >= 400:
                return Reply.error(
                    StripeError.from_reply(status, body, f"{req.method}: {req.path}")
                )
            content_type = dict((k.lower(), v) for k, v in headers_out).get("content-type", "")
            if not content_type.startswith("application/json"):
                return Reply(status, body, content_type, passed_headers(headers_out))
            data = stripe_pages.with_invoice_links(
                present(json.loads(body), self.overrides), self.url
            )
        body = json.dumps(data, indent=2, sort_keys=True).encode()
        return Reply(status, body, headers=passed_headers(headers_out))

    def _watched_subscription(self, req: Request) -> str | None:
        """The subscription a write may change (its update event is the front's to send)."""
        if req.method != "POST":
            return None
        if found := SUBSCRIPTION.match(req.path):
            return found[1]
        if found := INVOICE_PAY.match(req.path):
            with contextlib.suppress(StripeError):
                return self.upstream.call("GET", f"/v1/invoices/{found[1]}").get("subscription")
        return None

    def _subscription_or_none(self, subscription_id: str | None) -> JSON | None:
        if subscription_id is None:
            return None
        with contextlib.suppress(StripeError):
            return self.call("GET", f"/v1/subscriptions/{subscription_id}")
        return None

    def _after_write(self, req: Request, sub_id: str, before: JSON | None, body: bytes) -> None:
        if INVOICE_PAY.match(req.path) and json.loads(body).get("status") == "paid":
            self.overrides.pop(sub_id, None)  # paid: the subscription is what localstripe says
        self.emit_changes(before, self.call("GET", f"/v1/subscriptions/{sub_id}"))

    # --- Checkout and Billing Portal sessions, prices, events ---------------------------

    def create_checkout(self, req: Request) -> Reply:
        params = req.params()
        mode = required(params, "mode")
        if mode != "subscription":
            raise StripeError(
                400,
                "The lab's Checkout sells subscriptions only (mode=subscription).",
                param="mode",
            )
        if "line_items[1][price]" in params:
            raise StripeError(
                400,
                "The lab's Checkout sells one price per session (localstripe's "
                "subscriptions hold one item).",
                param="line_items[1]",
            )
        customer, price = required(params, "customer"), required(params, "line_items[0][price]")
        quantity = params.get("line_items[0][quantity]", "1")
        if not quantity.isdigit() or int(quantity) < 1:
            raise StripeError(400, "Invalid positive integer", param="line_items[0][quantity]")
        success_url = required(params, "success_url")
        with self.lock:
            self.find("customer", f"/v1/customers/{customer}", "customer")
            plan = self.find("price", f"/v1/plans/{price}", "line_items[0][price]")
        session = CheckoutSession.from_params(self.url, params, plan, int(quantity), success_url)
        self.checkouts[session.id] = session
        return Reply.json(session.export())

    def _checkout(self, req: Request) -> CheckoutSession:
        session = self.checkouts.get(req.match["id"])
        if session is None:
            raise StripeError(
                404,
                f"No such checkout.session: '{req.match['id']}'",
                param="session",
                code="resource_missing",
            )
        return session

    def get_checkout(self, req: Request) -> Reply:
        return Reply.json(self._checkout(req).export())

    def expire_checkout(self, req: Request) -> Reply:
        session = self._checkout(req)
        if session.status != "open":
            raise StripeError(
                400, f"Only open sessions can be expired; this one is {session.status}."
            )
        session.status = "expired"
        self.emit("checkout.session.expired", session.export())
        return Reply.json(session.export())

    def create_portal(self, req: Request) -> Reply:
        params = req.params()
        customer = required(params, "customer")
        with self.lock:
            self.find("customer", f"/v1/customers/{customer}", "customer")
        portal = PortalSession(new_id("bps_"), self.url, customer, params.get("return_url"))
        self.portals[portal.id] = portal
        return Reply.json(portal.export())

    def get_price(self, req: Request) -> Reply:
        try:
            with self.lock:
                return Reply.json(price_of(self.call("GET", f"/v1/plans/{req.match['id']}")))
        except StripeError as exc:
            if exc.status != 404:
                raise
            raise StripeError(
                404, f"No such price: '{req.match['id']}'", param="price", code="resource_missing"
            ) from None

    def get_event(self, req: Request) -> Reply:
        record = self.hub.get(req.match["id"])
        return Reply.json(record.event) if record else self.fallback(req)

    # --- lab controls --------------------------------------------------------------------

    def register_webhook(self, req: Request) -> Reply:
        data = req.json()
        events = data.get("events")
        hook = self.hub.register(str(data.get("url", "")), str(data.get("secret", "")), events)
        return Reply.json({"id": hook.id, "url": hook.url, "events": events})

    def forget_webhooks(self, req: Request) -> Reply:
        self.hub.forget_webhooks()
        return Reply.json({"forgotten": True})

    def flush(self, req: Request) -> Reply:
        self.hub.clear(wait=True)  # outside the lock: a webhook receiver may be calling us
        with self.lock:
            self.upstream.send("DELETE", "/_config/data")
            self.checkouts.clear()
            self.portals.clear()
            self.overrides.clear()
            self._cursor = None
            self.hub.clear(wait=False)
            self.log.clear()
        return Reply.json({"flushed": True})

    def create_plan(self, req: Request) -> Reply:
        data = req.json()
        plan_id, amount = str(data.get("id", "")), str(data.get("amount", ""))
        with self.lock:
            product = self.call("POST", "/v1/products", {"name": str(data.get("name") or plan_id)})
            plan = self.call(
                "POST",
                "/v1/plans",
                {
                    "id": plan_id,
                    "product": product["id"],
                    "amount": amount,
                    "currency": str(data.get("currency", "eur")),
                    "interval": str(data.get("interval", "month")),
                },
            )
            self.sync_events()
        return Reply.json(plan)

    def end_period(self, req: Request) -> Reply:
        """The end of the current period: a subscription set to cancel then is deleted."""
        sub_id = required(req.json(), "subscription")
        with self.lock:
            sub = self.find("subscription", f"/v1/subscriptions/{sub_id}", "subscription")
            ended = bool(sub["cancel_at_period_end"]) and sub["status"] != "canceled"
            if ended:
                self.overrides.pop(sub_id, None)
                sub = self.call("DELETE", f"/v1/subscriptions/{sub_id}")
                self.sync_events()  # localstripe's customer.subscription.deleted
        return Reply.json({"ended": ended, "subscription": sub})

    def fail_payment(self, req: Request) -> Reply:
        """The subscription's next invoice fails: the invoice is real, the status past_due."""
        sub_id = required(req.json(), "subscription")
        with self.lock:
            self.sync_events()
            sub = self.find("subscription", f"/v1/subscriptions/{sub_id}", "subscription")
            if sub["status"] not in ("active", "trialing", "past_due"):
                raise StripeError(
                    400,
                    f"{sub_id} is {sub['status']}; only a live one can fail",
                    param="subscription",
                )
            invoice = self._failed_invoice(sub)
            # localstripe cannot hold past_due here: the front says so until an invoice is paid.
            self.overrides[sub_id] = "past_due"
            self.sync_events(drop=frozenset({"customer.updated"}))  # the card swap's
            after = self.call("GET", f"/v1/subscriptions/{sub_id}")
            self.emit("invoice.payment_failed", invoice)
            self.emit_changes(sub, after)
        return Reply.json({"subscription": after, "invoice": invoice})

    def _failed_invoice(self, sub: JSON) -> JSON:
        """The next invoice, charged to a card that declines and then set back to the old one.

        localstripe charges the customer's default card, so that one is swapped for a
        declining card for the one charge. The invoice stays open with a failed payment;
        paying it again (``Invoice.pay``) charges the customer's own card again.
        """
        customer_id = sub["customer"]
        customer = self.call("GET", f"/v1/customers/{customer_id}")
        own = (customer.get("invoice_settings") or {}).get("default_payment_method") or ""
        card = self.call(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": DECLINED_LATER,
                "card[exp_month]": "12",
                "card[exp_year]": str(time.gmtime().tm_year + 5),
                "card[cvc]": "123",
            },
        )
        self.call("POST", f"/v1/payment_methods/{card['id']}/attach", {"customer": customer_id})
        invoice = self.call(
            "POST", "/v1/invoices", {"customer": customer_id, "subscription": sub["id"]}
        )
        default = "invoice_settings[default_payment_method]"
        self.call("POST", f"/v1/customers/{customer_id}", {default: card["id"]})
        try:
            self.call("POST", f"/v1/invoices/{invoice['id']}/pay")
        finally:
            self.call("POST", f"/v1/customers/{customer_id}", {default: own})
            self.call("POST", f"/v1/payment_methods/{card['id']}/detach")
        return self.call("GET", f"/v1/invoices/{invoice['id']}")

    def resend(self, req: Request) -> Reply:
        event_id = required(req.json(), "event")
        return Reply.json({"event": event_id, "deliveries": self.hub.resend(event_id)})


def required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise StripeError(400, f"Missing required param: {name}.", param=name)
    return str(value)


# --- the lab: localstripe's process and the front ------------------------------------


class StripeLab:
    """localstripe (a subprocess) behind the front (a thread of this process), on loopback.

    Start it from a thread that lives as long as the lab: localstripe dies with that thread.
    """

    def __init__(
        self,
        log_path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        localstripe_port: int = 0,
    ) -> None:
        self.log_path = Path(log_path)
        self.host, self.port, self.localstripe_port = host, port, localstripe_port
        self.api_key = "sk_test_" + secrets.token_hex(24)  # localstripe takes any sk_ key
        self._process: subprocess.Popen[bytes] | None = None
        self._account: StripeAccount | None = None

    @property
    def api_base(self) -> str:
        """The front's URL: what ``stripe.api_base`` (the panel's STRIPE_API_BASE) gets."""
        if self._account is None:
            raise StripeLabError("the Stripe lab is not running")
        return self._account.url

    @property
    def localstripe_url(self) -> str:
        return f"http://127.0.0.1:{self.localstripe_port}"

    @property
    def localstripe_pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> StripeLab:
        try:
            self._start_localstripe()
            self._account = StripeAccount(self.localstripe_port, self.log_path)
            self._account.start(self.host, self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._account is not None:
            self._account.stop()
            self._account = None
        if self._process is not None:
            _end(self._process)
            self._process = None

    def __enter__(self) -> StripeLab:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- controls, over HTTP as from any other process ---------------------------------

    def flush(self) -> None:
        """Empty localstripe, the sessions, the events and the request log (keeps webhooks)."""
        self._control("POST", "/_lab/flush")

    def register_webhook(self, url: str, secret: str, events: Iterable[str] | None = None) -> str:
        body = {"url": url, "secret": secret, "events": None if events is None else list(events)}
        return str(self._control("POST", "/_lab/webhooks", body)["id"])

    def forget_webhooks(self) -> None:
        """No webhook is registered any more (deliveries under way finish first)."""
        self._control("DELETE", "/_lab/webhooks")

    def create_plan(
        self,
        id: str,
        amount: int,
        currency: str = "eur",
        interval: str = "month",
        name: str | None = None,
    ) -> JSON:
        body = {
            "id": id,
            "amount": amount,
            "currency": currency,
            "interval": interval,
            "name": name or id,
        }
        plan: JSON = self._control("POST", "/_lab/plans", body)
        return plan

    def end_period(self, subscription_id: str) -> JSON:
        """``{"ended": bool, "subscription": ...}``: ended when it was to cancel at period end."""
        result: JSON = self._control("POST", "/_lab/end_period", {"subscription": subscription_id})
        return result

    def fail_payment(self, subscription_id: str) -> JSON:
        """``{"subscription": ... past_due, "invoice": ... open}``, and the two events sent."""
        body = {"subscription": subscription_id}
        result: JSON = self._control("POST", "/_lab/fail_payment", body)
        return result

    def resend(self, event_id: str) -> list[JSON]:
        deliveries: list[JSON] = self._control("POST", "/_lab/resend", {"event": event_id})[
            "deliveries"
        ]
        return deliveries

    def events(self) -> list[JSON]:
        """Every event sent since the last flush: id, type, source, event, deliveries."""
        listing: list[JSON] = self._control("GET", "/_lab/events")["data"]
        return listing

    def requests(self) -> list[JSON]:
        return requests(self.log_path)

    def _control(self, method: str, path: str, body: JSON | None = None) -> Any:
        port = int(self.api_base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body)
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read() or b"null")
        finally:
            conn.close()
        if response.status >= 400:
            raise StripeLabError(f"{path}: {data['error']['message']}")
        return data

    # --- localstripe's process -----------------------------------------------------------

    def _start_localstripe(self, timeout: float = 15.0) -> None:
        log_path = self.log_path.with_name(self.log_path.stem + "-localstripe.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-c",
            _LOCALSTRIPE_MAIN,
            str(self.localstripe_port),
            str(os.getpid()),
        ]
        # Untagged: lab teardown counts the peers it started, and this one ends with its front.
        env = {name: value for name, value in os.environ.items() if name != TAG}
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        self.localstripe_port = self._read_port(self._process, log_path, timeout)
        self._wait_answering(self._process, log_path, time.monotonic() + timeout)

    @staticmethod
    def _read_port(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise StripeLabError(f"localstripe did not start: {_tail(log_path)}")
        return int(line)

    def _wait_answering(
        self, process: subprocess.Popen[bytes], log_path: Path, deadline: float
    ) -> None:
        upstream = Upstream(self.localstripe_port, timeout=2)
        while True:
            with contextlib.suppress(OSError, StripeError):
                upstream.call("GET", "/v1/events", {"limit": "1"})
                return
            if process.poll() is not None or time.monotonic() > deadline:
                raise StripeLabError(f"localstripe does not answer: {_tail(log_path)}")
            time.sleep(0.05)


def _end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM localstripe's process group, SIGKILL it if it lingers; reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
            break
    if process.stdout is not None:
        process.stdout.close()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="the front's (0: a free one)")
    parser.add_argument("--localstripe-port", type=int, default=0)
    parser.add_argument("--log", type=Path, required=True, help="the request log (JSON lines)")
    parser.add_argument("--webhook", default="", help="a URL to deliver every event to")
    parser.add_argument(
        "--webhook-secret", default="", help="the secret its deliveries are signed with"
    )
    parser.add_argument(
        "--plan", action="append", default=[], help="PRICE_ID:AMOUNT:NAME, made at start"
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    lab = StripeLab(args.log, args.host, args.port, args.localstripe_port).start()
    try:
        for plan in args.plan:
            price, amount, name = plan.split(":", 2)
            lab.create_plan(price, int(amount), name=name)
        if args.webhook:
            lab.register_webhook(args.webhook, args.webhook_secret)
        print(
            f"stripe lab listening on {lab.api_base} (localstripe pid {lab.localstripe_pid}"
            f" on {lab.localstripe_url}); request log {lab.log_path}",
            flush=True,
        )
        while not stopping.wait(0.5):
            pass
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
