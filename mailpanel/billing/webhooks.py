"""Events from the payment processor: verified, stored once by id, applied from the API.

``receive`` is what ``POST /billing/stripe/webhook`` does. The ``Stripe-Signature`` is
checked by the SDK (HMAC-SHA256 over ``<timestamp>.<body>`` with the endpoint's secret,
compared in constant time, the timestamp within STRIPE_WEBHOOK_TOLERANCE_SECONDS).

Two steps. First the current objects are fetched from the processor, outside any
transaction (an event's own copy may be stale: events come late, twice, out of order).
Then one short transaction stores the event id and applies what was fetched to the locked
account, so a replay, or the same event delivered twice at once, changes nothing. When
the processor cannot be asked, or the database is busy, the answer is 503 with nothing
stored, and the processor delivers the event again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stripe
import structlog
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from mailpanel.billing import client, sync
from mailpanel.billing.models import BillingAccount, WebhookEvent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: int
    text: str


@dataclass
class Fetched:
    """What an event is about, as the processor says now (step one, no database write)."""

    customer: str
    account_id: str = ""
    subscription: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None
    card: dict[str, Any] | None = None  # display data, when the event may have changed it
    note: str = ""  # the result when there is nothing to apply
    # Taken just before the subscription was fetched: a snapshot older than the one the
    # account holds (another event's, applied meanwhile) is not applied over it.
    fetched_at: datetime = field(default_factory=timezone.now)


def receive(payload: bytes, signature: str) -> Outcome:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return Outcome(404, "billing is off")
    try:
        text = payload.decode("utf-8")
        tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
        data = json.loads(text)
    except stripe.SignatureVerificationError:
        log.warning("webhook refused", reason="signature or timestamp wrong")
        return Outcome(400, "bad signature")
    except ValueError:  # not UTF-8 or not JSON (signed, so it came from the processor)
        log.warning("webhook refused", reason="not a JSON event")
        return Outcome(400, "malformed payload")
    body = data.get("data") if isinstance(data, dict) else None
    obj = body.get("object") if isinstance(body, dict) else None
    if not isinstance(obj, dict) or not data.get("id"):
        log.warning("webhook refused", reason="not an event")
        return Outcome(400, "malformed event")
    event_id, kind = str(data["id"])[:255], str(data.get("type") or "")[:100]
    fetch = HANDLERS.get(kind)
    if fetch is None:
        log.info("webhook ignored", event_id=event_id, type=kind)
        return Outcome(200, "ignored")
    if WebhookEvent.objects.filter(event_id=event_id).exists():
        log.info("webhook replayed", event_id=event_id, type=kind)
        return Outcome(200, "already applied")
    try:
        return _apply_once(event_id, kind, obj, fetch(obj))
    except client.ProcessorError:
        return Outcome(503, "the processor could not be asked; deliver again")
    except OperationalError as exc:  # e.g. SQLite's write lock waited out: deliver again
        log.warning("webhook deferred", event_id=event_id, error=type(exc).__name__)
        return Outcome(503, "busy; deliver again")


def _apply_once(event_id: str, kind: str, obj: dict[str, Any], fetched: Fetched) -> Outcome:
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    event_id=event_id, type=kind, object_id=str(obj.get("id") or "")[:255]
                )
        except IntegrityError:
            log.info("webhook replayed", event_id=event_id, type=kind)
            return Outcome(200, "already applied")
        account = _locked(fetched.customer, fetched.account_id)
        result = _apply(account, fetched) if account else "no account for this customer"
        stored.account, stored.result = account, result[:200]
        stored.save(update_fields=["account", "result"])
    log.info("webhook applied", event_id=event_id, type=kind, result=result)
    return Outcome(200, result)


def _apply(account: BillingAccount, fetched: Fetched) -> str:
    if fetched.invoice is not None and sync.record_invoice(account, fetched.invoice):
        fetched.note = "invoice recorded"
    if fetched.subscription is None:
        if fetched.card is not None:
            sync.copy_card(account, fetched.card)
            account.save()
            return "card updated"
        return fetched.note or "nothing to apply"
    if fetched.customer and fetched.customer != account.customer_id:
        account.customer_id = fetched.customer  # the customer the checkout was paid by
    refused = sync.apply_subscription(
        account, fetched.subscription, fetched.card, fetched_at=fetched.fetched_at
    )
    return refused or fetched.note or f"subscription {account.status}"


def _locked(customer_id: str = "", account_id: str = "") -> BillingAccount | None:
    accounts = BillingAccount.objects.select_for_update().select_related("owner")
    if account_id:
        found = accounts.filter(pk=account_id).first()
        if found is not None:
            return found
    return accounts.filter(customer_id=customer_id).first() if customer_id else None


# --- step one: what each event is about, fetched ---------------------------------------


Fetch = Callable[[dict[str, Any]], Fetched]


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value or "")


def _card_if_needed(customer: str, always: bool) -> dict[str, Any] | None:
    """The card's display data when this event may have changed it, or the account shows
    none yet; otherwise None (two calls to the processor saved)."""
    if not customer:
        return None
    known = BillingAccount.objects.filter(customer_id=customer).exclude(card_last4="").exists()
    return sync.card_of(customer) if always or not known else None


def _checkout_completed(obj: dict[str, Any]) -> Fetched:
    session = client.retrieve_checkout_session(_id(obj))
    customer, reference = (
        _id(session.get("customer")),
        str(session.get("client_reference_id") or ""),
    )
    fetched = Fetched(customer, _uuid_or_empty(reference), fetched_at=timezone.now())
    subscription = _id(session.get("subscription"))
    if session.get("status") != "complete" or not subscription:
        fetched.note = "checkout not complete"
        return fetched
    kept = _one_live_subscription(customer, subscription)
    if kept != subscription:
        fetched.note = "a second subscription canceled"
    fetched.subscription = client.retrieve_subscription(kept)
    fetched.card = _card_if_needed(customer, always=True)
    return fetched


def _one_live_subscription(customer: str, default: str) -> str:
    """The customer's first live subscription; any later one (two checkouts paid, in two
    tabs) is canceled at the processor, so nobody pays twice. Staff refund its charge."""
    listed = client.list_subscriptions(customer)
    live = sorted(
        (s for s in listed if s.get("status") in sync.LIVE),
        key=lambda s: (int(s.get("created") or 0), str(s["id"])),
    )
    for extra in live[1:]:
        client.cancel_subscription(str(extra["id"]))
        log.warning("second subscription canceled; refund its charge", subscription=extra["id"])
    return str(live[0]["id"]) if live else default


def _subscription_changed(obj: dict[str, Any]) -> Fetched:
    customer, fetched_at = _id(obj.get("customer")), timezone.now()
    try:
        current = client.retrieve_subscription(_id(obj))
    except client.ProcessorRefused as exc:
        if exc.code != "resource_missing" or obj.get("status") not in sync.ENDED:
            raise client.ProcessorUnavailable() from exc  # 503: delivered again later
        current = obj  # deleted and gone at the processor: the event's copy is all there is
    card = _card_if_needed(customer, False)
    return Fetched(customer, subscription=current, card=card, fetched_at=fetched_at)


def _invoice(obj: dict[str, Any], paid: bool) -> Fetched:
    customer, fetched_at = _id(obj.get("customer")), timezone.now()
    invoice = client.retrieve_invoice(_id(obj))
    subscription = invoice_subscription(invoice)
    if not subscription:  # the panel's own record of it
        known = BillingAccount.objects.filter(customer_id=customer).exclude(subscription_id="")
        subscription = str(known.values_list("subscription_id", flat=True).first() or "")
    fetched = Fetched(customer, invoice=invoice if paid else None, fetched_at=fetched_at)
    fetched.note = "" if paid else "payment failed"
    if subscription:
        fetched.subscription = client.retrieve_subscription(subscription)
    fetched.card = _card_if_needed(customer, always=False)
    if not paid and fetched.subscription is not None:
        fetched.note = f"payment failed; subscription {fetched.subscription.get('status')}"
    return fetched


def invoice_subscription(invoice: dict[str, Any]) -> str:
    """The invoice's subscription: under ``parent`` in current API versions, at the top in
    older ones (and in the lab's processor)."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _customer_updated(obj: dict[str, Any]) -> Fetched:
    """A new default card (the portal): its display data."""
    customer = _id(obj)
    return Fetched(customer, card=sync.card_of(customer))


def _uuid_or_empty(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return ""


HANDLERS: dict[str, Fetch] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "customer.updated": _customer_updated,
    "invoice.paid": lambda obj: _invoice(obj, paid=True),
    "invoice.payment_succeeded": lambda obj: _invoice(obj, paid=True),
    "invoice.payment_failed": lambda obj: _invoice(obj, paid=False),
}
