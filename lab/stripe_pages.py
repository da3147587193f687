"""The pages a customer sees at the lab's Stripe: Checkout's payment page and the Portal.

Plain HTML on the lab's own origin, no script: the card form posts to the same page and
its card goes nowhere but the lab's localstripe (the Content-Security-Policy says so too).
What a browser posts here is not in the request log, which is what the panel sent.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from lab.stripe_front import JSON, Reply, Request, StripeError, new_id

if TYPE_CHECKING:
    from lab.stripe_account import StripeAccount

DECLINED = "Your card was declined."
_STYLE = (
    "body{font:16px system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1a1f36}"
    "main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px}"
    "label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem}"
    "button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b3093c}.note{color:#697386}"
    "table{width:100%;border-collapse:collapse}td{padding:.3rem 0}"
)


@dataclass
class CheckoutSession:
    id: str
    url: str
    customer: str
    plan: JSON
    quantity: int
    success_url: str
    cancel_url: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    subscription_metadata: dict[str, str]
    created: int = field(default_factory=lambda: int(time.time()))
    status: str = "open"
    payment_status: str = "unpaid"
    subscription: str | None = None
    pending_subscription: str | None = None  # made by a card whose charge failed

    @classmethod
    def from_params(
        cls, base_url: str, params: dict[str, str], plan: JSON, quantity: int, success_url: str
    ) -> CheckoutSession:
        session_id = new_id("cs_test_")
        return cls(
            session_id,
            f"{base_url}/pay/{session_id}",
            params["customer"],
            plan,
            quantity,
            success_url,
            params.get("cancel_url"),
            params.get("client_reference_id"),
            _nested(params, "metadata["),
            _nested(params, "subscription_data[metadata]["),
        )

    def export(self) -> JSON:
        return {
            "id": self.id,
            "object": "checkout.session",
            "url": self.url,
            "status": self.status,
            "payment_status": self.payment_status,
            "mode": "subscription",
            "customer": self.customer,
            "subscription": self.subscription,
            "client_reference_id": self.client_reference_id,
            "metadata": dict(self.metadata),
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "created": self.created,
            "expires_at": self.created + 24 * 3600,
            "livemode": False,
            "amount_total": self.plan["amount"] * self.quantity,
            "currency": self.plan["currency"],
        }


@dataclass
class PortalSession:
    id: str
    base_url: str
    customer: str
    return_url: str | None
    created: int = field(default_factory=lambda: int(time.time()))

    def export(self) -> JSON:
        return {
            "id": self.id,
            "object": "billing_portal.session",
            "url": f"{self.base_url}/portal/{self.id}",
            "customer": self.customer,
            "return_url": self.return_url,
            "created": self.created,
            "livemode": False,
        }


def _nested(params: dict[str, str], prefix: str) -> dict[str, str]:
    return {
        key[len(prefix) : -1]: value
        for key, value in params.items()
        if key.startswith(prefix) and key.endswith("]") and "[" not in key[len(prefix) :]
    }


def install(account: StripeAccount) -> None:
    account.route("GET", r"/pay/(?P<id>\w+)", lambda req: show_checkout(account, req))
    account.route("POST", r"/pay/(?P<id>\w+)", lambda req: pay(account, req))
    account.route("GET", r"/portal/(?P<id>\w+)", lambda req: show_portal(account, req))
    account.route("POST", r"/portal/(?P<id>\w+)", lambda req: change_subscription(account, req))
    account.route("GET", r"/invoice/(?P<id>\w+)", lambda req: show_invoice(account, req))


# --- Hosted invoices ------------------------------------------------------------------


def with_invoice_links(value: Any, origin: str) -> Any:
    """Each invoice with its hosted page (``hosted_invoice_url``) and a number, as Stripe's
    have once finalised; localstripe's have neither."""
    if isinstance(value, list):
        return [with_invoice_links(item, origin) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: with_invoice_links(item, origin) for key, item in value.items()}
    if out.get("object") == "invoice" and out.get("id"):
        out["hosted_invoice_url"] = out.get("hosted_invoice_url") or f"{origin}/invoice/{out['id']}"
        out["number"] = out.get("number") or "LAB-" + str(out["id"])[-8:].upper()
    return out


def show_invoice(account: StripeAccount, req: Request) -> Reply:
    try:
        with account.lock:
            invoice = account.call("GET", f"/v1/invoices/{req.match['id']}")
    except StripeError:
        return page(404, "Unknown invoice", "<p>There is no such invoice.</p>")
    amount = f"{int(invoice.get('total') or 0) / 100:.2f} {str(invoice['currency']).upper()}"
    what = f"Invoice {invoice['id']}: {amount}, {invoice['status']}"
    body = f"<p>{escape(what)}</p>"
    return page(200, "Invoice", body)


# --- Checkout -------------------------------------------------------------------------


class CardProblem(ValueError):
    """What the page says about a card it cannot take."""


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @classmethod
    def read(cls, form: dict[str, str]) -> Card:
        number = re.sub(r"[\s-]", "", form.get("number", ""))
        if not re.fullmatch(r"\d{16}", number):  # all the test cards have 16 digits
            raise CardProblem("Your card number is incomplete.")
        if not _luhn(number):
            raise CardProblem("Your card number is invalid.")
        month, year = form.get("exp_month", "").strip(), form.get("exp_year", "").strip()
        if not (month.isdigit() and 1 <= int(month) <= 12):
            raise CardProblem("Your card's expiration month is invalid.")
        if not (year.isdigit() and len(year) in (2, 4)):
            raise CardProblem("Your card's expiration year is invalid.")
        full_year = int(year) + 2000 if len(year) == 2 else int(year)
        now = time.gmtime()
        if (full_year, int(month)) < (now.tm_year, now.tm_mon):
            raise CardProblem("Your card's expiration date is in the past.")
        cvc = form.get("cvc", "").strip()
        if not re.fullmatch(r"\d{3}", cvc):
            raise CardProblem("Your card's security code is incomplete.")
        return cls(number, int(month), full_year, cvc)

    def params(self) -> dict[str, str]:
        return {
            "type": "card",
            "card[number]": self.number,
            "card[cvc]": self.cvc,
            "card[exp_month]": str(self.exp_month),
            "card[exp_year]": str(self.exp_year),
        }


def _luhn(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def show_checkout(account: StripeAccount, req: Request) -> Reply:
    session = account.checkouts.get(req.match["id"])
    if session is None:
        return page(404, "Unknown checkout", "<p>There is no such checkout session.</p>")
    if session.status != "open":
        return page(200, "Checkout", f"<p>This checkout session is {escape(session.status)}.</p>")
    return checkout_page(200, session)


def pay(account: StripeAccount, req: Request) -> Reply:
    session = account.checkouts.get(req.match["id"])
    if session is None:
        return page(404, "Unknown checkout", "<p>There is no such checkout session.</p>")
    if session.status != "open":
        return page(409, "Checkout", f"<p>This checkout session is {escape(session.status)}.</p>")
    try:
        card = Card.read(dict(parse_qsl(req.body.decode("utf-8", "replace"))))
        with account.lock:
            declined = charge(account, session, card)
    except CardProblem as exc:
        return checkout_page(400, session, str(exc))
    except StripeError as exc:  # localstripe refused the card (e.g. its expiry year)
        return checkout_page(exc.status, session, str(exc))
    if declined:
        return checkout_page(402, session, DECLINED)
    return Reply.redirect(session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id))


def charge(account: StripeAccount, session: CheckoutSession, card: Card) -> bool:
    """Subscribe the session's customer, paying with ``card``; True when the card declines.

    A card declined when attached (4000 0000 0000 0002) makes nothing. One that attaches
    but whose charge fails (…0341) leaves the subscription incomplete with its invoice
    open; the session stays open and the next card pays that invoice.
    """
    method = account.call("POST", "/v1/payment_methods", card.params())
    try:
        account.call(
            "POST", f"/v1/payment_methods/{method['id']}/attach", {"customer": session.customer}
        )
    except StripeError as exc:
        if exc.status == 402:
            return True
        raise
    account.call(
        "POST",
        f"/v1/customers/{session.customer}",
        {"invoice_settings[default_payment_method]": method["id"]},
    )
    before = None
    if session.pending_subscription:
        before = account.call("GET", f"/v1/subscriptions/{session.pending_subscription}")
        account.call("POST", f"/v1/invoices/{before['latest_invoice']}/pay")
        sub_id = session.pending_subscription
    else:
        sub_id = account.call("POST", "/v1/subscriptions", subscription_params(session))["id"]
    account.sync_events()
    sub = account.call("GET", f"/v1/subscriptions/{sub_id}")
    if sub["status"] not in ("active", "trialing"):
        session.pending_subscription = sub_id
        account.emit(
            "invoice.payment_failed", account.call("GET", f"/v1/invoices/{sub['latest_invoice']}")
        )
        return True
    account.emit_changes(before, sub)
    session.status, session.payment_status, session.subscription = "complete", "paid", sub_id
    session.pending_subscription = None
    account.emit("checkout.session.completed", session.export())
    return False


def subscription_params(session: CheckoutSession) -> dict[str, str]:
    params = {
        "customer": session.customer,
        "items[0][plan]": session.plan["id"],
        "items[0][quantity]": str(session.quantity),
    }
    params.update({f"metadata[{k}]": v for k, v in session.subscription_metadata.items()})
    return params


_CARD_FIELDS = (
    ("number", "Card number", "cc-number"),
    ("exp_month", "Expiry month (MM)", "cc-exp-month"),
    ("exp_year", "Expiry year (YYYY)", "cc-exp-year"),
    ("cvc", "CVC", "cc-csc"),
)


def checkout_page(status: int, session: CheckoutSession, error: str = "") -> Reply:
    plan = session.plan
    amount = f"{plan['amount'] * session.quantity / 100:.2f} {plan['currency'].upper()}"
    what = f"{amount} every {plan['interval']}: {plan.get('name') or plan['id']}"
    inputs = "".join(
        f'<label>{label} <input name="{name}" inputmode="numeric" autocomplete="{auto}"'
        " required></label>"
        for name, label, auto in _CARD_FIELDS
    )
    body = (
        f"<p>{escape(what)}</p>"
        + (f'<p class="error" role="alert">{escape(error)}</p>' if error else "")
        + f'<form method="post" action="/pay/{escape(session.id)}">{inputs}'
        '<button type="submit">Subscribe</button></form>'
        + (f'<p><a href="{escape(session.cancel_url)}">Back</a></p>' if session.cancel_url else "")
        + '<p class="note">Lab test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is'
        " declined; 4000 0000 0000 0341 is taken but its payment fails. Any future expiry,"
        " any CVC.</p>"
    )
    targets = [url for url in (session.success_url, session.cancel_url) if url]
    return page(status, "Pay the lab", body, targets)


# --- Billing Portal -------------------------------------------------------------------


def show_portal(account: StripeAccount, req: Request) -> Reply:
    portal = account.portals.get(req.match["id"])
    if portal is None:
        return page(404, "Unknown portal session", "<p>There is no such portal session.</p>")
    with account.lock:
        subs = account.call(
            "GET",
            "/v1/subscriptions",
            {"customer": portal.customer, "status": "all", "limit": "100"},
        )
    rows = "".join(_subscription_row(portal, sub) for sub in subs["data"])
    back = (
        f'<p><a href="{escape(portal.return_url)}">Return to the panel</a></p>'
        if portal.return_url
        else ""
    )
    body = f"<table>{rows or '<tr><td>No subscriptions.</td></tr>'}</table>{back}"
    return page(200, "Your subscriptions", body)


def _subscription_row(portal: PortalSession, sub: JSON) -> str:
    plan = sub["plan"]
    ends = time.strftime("%Y-%m-%d", time.gmtime(sub["current_period_end"]))
    state = str(sub["status"])
    action = ""
    if sub["status"] in ("active", "trialing", "past_due"):
        cancel = not sub["cancel_at_period_end"]
        state += f", renews {ends}" if cancel else f", cancels {ends}"
        label = "Cancel at period end" if cancel else "Renew"
        action = (
            f'<form method="post" action="/portal/{escape(portal.id)}">'
            f'<input type="hidden" name="subscription" value="{escape(sub["id"])}">'
            f'<input type="hidden" name="action" value="{"cancel" if cancel else "renew"}">'
            f"<button>{label}</button></form>"
        )
    name = escape(str(plan.get("name") or plan["id"]))
    return f"<tr><td>{name}</td><td>{escape(state)}</td><td>{action}</td></tr>"


def change_subscription(account: StripeAccount, req: Request) -> Reply:
    portal = account.portals.get(req.match["id"])
    form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
    sub_id, action = form.get("subscription", ""), form.get("action", "cancel")
    with account.lock:
        try:
            sub = account.call("GET", f"/v1/subscriptions/{sub_id}") if sub_id else None
        except StripeError:
            sub = None
        if portal is None or sub is None or sub["customer"] != portal.customer:
            return page(404, "Unknown subscription", "<p>There is no such subscription.</p>")
        cancel = "true" if action == "cancel" else "false"
        account.update_subscription(sub_id, {"cancel_at_period_end": cancel})
    return Reply.redirect(f"/portal/{portal.id}")


# --- pages ----------------------------------------------------------------------------


def page(status: int, title: str, body: str, leave_to: list[str] | None = None) -> Reply:
    """An HTML page; its forms may post only here (and be redirected to ``leave_to``)."""
    origins = " ".join(sorted({_origin(url) for url in leave_to or []}))
    csp = (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origins};"
        " base-uri 'none'; frame-ancestors 'none'"
    )
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · lab Stripe</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    headers = [
        ("Content-Security-Policy", csp.replace("  ", " ")),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
    ]
    return Reply(status, html.encode(), "text/html; charset=utf-8", headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
