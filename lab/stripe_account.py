"""The lab processor's account: the front's routes over localstripe (the proxy, Checkout
and Portal sessions, prices, events) and the lab's controls (``/_lab/...``)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from lab import stripe_pages
from lab.stripe_events import EventHub, make_event
from lab.stripe_front import (
    DECLINED_LATER,
    JSON,
    HttpFront,
    Reply,
    Request,
    RequestLog,
    StripeError,
    Upstream,
    new_id,
    no_such,
    passed_headers,
    present,
    price_of,
    translate_price,
)
from lab.stripe_pages import CheckoutSession, PortalSession

SUBSCRIPTION = re.compile(r"^/v1/subscriptions/(sub_\w+)$")
INVOICE_PAY = re.compile(r"^/v1/invoices/(in_\w+)/pay$")


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
