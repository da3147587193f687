"""The state the events come from: panel users with a billing account, each with a real
customer and subscription history at the lab's processor.

Each account goes through the panel's own checkout (``checkout.start_checkout``: the panel
makes the processor's customer and the Checkout Session, ``client_reference_id`` = the
account's pk), is paid on the lab's /pay page with the 4242 card, and then lives one of
the histories below (failed payments and payments after all, cancelling at period end,
the period's end, cancelling at once, coming back with a second subscription and leaving
again). The
processor's events are the lab's genuine ones; no webhook is registered, so the panel
hears of none of them until the benchmark delivers them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import stripe
from django.contrib.auth.hashers import make_password

from lab.stripe_lab import StripeLab
from mailpanel.accounts.models import User
from mailpanel.billing import checkout
from mailpanel.billing.models import BillingAccount
from mailpanel.billing.webhooks import HANDLERS

CARD = {
    "number": "4242424242424242",
    "exp_month": "12",
    "exp_year": str(time.gmtime().tm_year + 3),
    "cvc": "123",
}
# A history's steps and the events of the panel's types (HANDLERS) each one makes at the
# lab: subscribe 3 (invoice.payment_succeeded, customer.subscription.created,
# checkout.session.completed), fail 2 (invoice.payment_failed, .updated), pay 2
# (invoice.payment_succeeded, .updated), cancel_at_end 1, end_period 1 (.deleted),
# cancel 1 (.deleted), toggle 1 (.updated).
HISTORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("renewed after a failed payment", ("subscribe", "fail", "pay")),
    ("past due again", ("subscribe", "fail", "pay", "fail")),
    ("cancels at period end", ("subscribe", "fail", "pay", "cancel_at_end")),
    ("ended at period end", ("subscribe", "cancel_at_end", "end_period")),
    ("canceled at once", ("subscribe", "fail", "pay", "cancel")),
    ("came back", ("subscribe", "fail", "pay", "cancel", "subscribe")),
    ("paid after two failures", ("subscribe", "fail", "pay", "fail", "pay")),
    ("canceled while past due", ("subscribe", "fail", "cancel")),
    ("renewed, then ended", ("subscribe", "fail", "pay", "cancel_at_end", "end_period")),
    ("came back, left again", ("subscribe", "cancel_at_end", "end_period", "subscribe", "cancel")),
)
LIVE = ("active", "trialing", "past_due")


class StateError(RuntimeError):
    """The lab did not make what the history asked for."""


@dataclass
class Member:
    """One panel user, its billing account and what the lab holds for it."""

    user: User
    account: BillingAccount
    history: str
    subscription: str = ""  # the latest, the one the panel must end up showing
    subscriptions: list[str] = field(default_factory=list)
    open_invoice: str = ""
    cancel_at_period_end: bool = False
    ended: bool = False


@dataclass
class Estate:
    members: list[Member]
    events: list[dict[str, Any]]  # the lab's events of the panel's types, oldest first
    owner_of: dict[str, Member]  # customer id -> member
    toggles: int
    seconds: float


def sdk(lab: StripeLab) -> stripe.StripeClient:
    session = requests.Session()
    session.trust_env = False
    return stripe.StripeClient(
        lab.api_key,
        base_addresses={"api": lab.api_base},
        http_client=stripe.RequestsClient(session=session),
    )


def build(lab: StripeLab, accounts: int, distinct: int) -> Estate:
    """``accounts`` members and exactly ``distinct`` events of the panel's types."""
    started = time.perf_counter()
    client = sdk(lab)
    members: list[Member] = []
    with httpx.Client(trust_env=False, timeout=30.0) as browser:
        for n in range(accounts):
            history, steps = HISTORIES[n % len(HISTORIES)]
            member = _member(n, history)
            for step in steps:
                _STEPS[step](lab, client, browser, member)
            members.append(member)
        owner_of = {m.account.customer_id: m for m in members}
        events = handled_events(lab)
        toggles = 0
        live = [m for m in members if not m.ended]
        while len(events) < distinct and live:
            # The portal's "cancel at period end" and "renew", one event each, round robin.
            _toggle(lab, client, browser, live[toggles % len(live)])
            toggles += 1
            events = handled_events(lab)
    if len(events) != distinct:
        raise StateError(
            f"the histories of {accounts} accounts made {len(events)} events of the panel's "
            f"types, not {distinct}: choose more accounts (--accounts) or fewer events"
        )
    strays = [e["id"] for e in events if customer_of(e) not in owner_of]
    if strays:
        raise StateError(f"events of no member's customer: {strays[:5]}")
    return Estate(members, events, owner_of, toggles, time.perf_counter() - started)


def handled_events(lab: StripeLab) -> list[dict[str, Any]]:
    """The full event JSON of every event the panel handles, in the order they were made."""
    return [record["event"] for record in lab.events() if record["type"] in HANDLERS]


def customer_of(event: dict[str, Any]) -> str:
    obj = event["data"]["object"]
    if obj.get("object") == "customer":  # customer.updated: the event is the customer
        return str(obj.get("id") or "")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return str(customer or "")


def _member(n: int, history: str) -> Member:
    user = User.objects.create(
        email=f"billing{n:03d}@example.test",
        full_name=f"Billing User {n}",
        password=make_password(None),
    )
    account = BillingAccount.objects.create(
        owner=user, name=user.full_name, email=user.email, country="FR"
    )
    return Member(user, account, history)


def _subscribe(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, member: Member
) -> None:
    if member.subscriptions:
        # A person comes back seconds later at the earliest. Within one second the panel
        # cannot tell the newer of two subscriptions ("created" counts in seconds): see
        # sync._older. Wait for the next second, as any real second checkout does.
        time.sleep(1.05 - time.time() % 1)
    contact = {"name": member.account.name, "email": member.account.email, "country": "FR"}
    url = checkout.start_checkout(member.user, "pro", contact)  # the panel's own checkout
    member.account.refresh_from_db()
    paid = browser.post(url, data=CARD)
    if paid.status_code != 303:
        raise StateError(f"the lab's checkout refused the 4242 card: {paid.status_code}")
    session = client.v1.checkout.sessions.retrieve(url.rsplit("/", 1)[1])
    if session.client_reference_id != str(member.account.pk) or not session.subscription:
        raise StateError(f"checkout {session.id} is not the account's, or made no subscription")
    member.subscription = str(session.subscription)
    member.subscriptions.append(member.subscription)
    member.cancel_at_period_end = member.ended = False


def _fail(lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, m: Member) -> None:
    failed = lab.fail_payment(m.subscription)
    if failed["subscription"]["status"] != "past_due":
        raise StateError(f"{m.subscription} is {failed['subscription']['status']} after a failure")
    m.open_invoice = str(failed["invoice"]["id"])


def _pay(lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, m: Member) -> None:
    client.v1.invoices.pay(m.open_invoice)  # the customer pays after all
    m.open_invoice = ""


def _cancel_at_end(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, m: Member
) -> None:
    client.v1.subscriptions.update(m.subscription, {"cancel_at_period_end": True})
    m.cancel_at_period_end = True


def _end_period(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, m: Member
) -> None:
    if not lab.end_period(m.subscription)["ended"]:
        raise StateError(f"{m.subscription} did not end at the end of its period")
    m.ended = True


def _cancel(lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, m: Member) -> None:
    client.v1.subscriptions.cancel(m.subscription)
    m.ended = True


def _toggle(lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, m: Member) -> None:
    toggle(lab, client, m)


def toggle(lab: StripeLab, client: stripe.StripeClient, m: Member) -> None:
    """The portal's "cancel at period end" or "renew": one customer.subscription.updated."""
    m.cancel_at_period_end = not m.cancel_at_period_end
    client.v1.subscriptions.update(m.subscription, {"cancel_at_period_end": m.cancel_at_period_end})


_STEPS = {
    "subscribe": _subscribe,
    "fail": _fail,
    "pay": _pay,
    "cancel_at_end": _cancel_at_end,
    "end_period": _end_period,
    "cancel": _cancel,
    "toggle": _toggle,
}
