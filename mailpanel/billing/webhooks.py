"""Events from the payment processor: verified, stored once by id, applied from the API.

``receive`` is what ``POST /billing/stripe/webhook`` does. The ``Stripe-Signature`` is
checked by the SDK (HMAC-SHA256 over ``<timestamp>.<body>`` with the endpoint's secret,
compared in constant time, the timestamp within STRIPE_WEBHOOK_TOLERANCE_SECONDS). The
event id is stored in the same transaction as its effect, so a replay, or the same event
delivered twice at once, changes nothing; an effect that fails (the processor could not be
asked) rolls back with the id and answers 503, and the processor delivers it again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe
import structlog
from django.conf import settings
from django.db import IntegrityError, transaction

from mailpanel.billing import client, sync
from mailpanel.billing.models import BillingAccount, WebhookEvent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: int
    text: str


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
    handler = HANDLERS.get(kind)
    if handler is None:
        log.info("webhook ignored", event_id=event_id, type=kind)
        return Outcome(200, "ignored")
    try:
        return _apply_once(event_id, kind, obj, handler)
    except client.ProcessorError:
        return Outcome(503, "the processor could not be asked; deliver again")


def _apply_once(event_id: str, kind: str, obj: dict[str, Any], handler: Handler) -> Outcome:
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    event_id=event_id, type=kind, object_id=str(obj.get("id") or "")[:255]
                )
        except IntegrityError:
            log.info("webhook replayed", event_id=event_id, type=kind)
            return Outcome(200, "already applied")
        account, result = handler(obj)
        stored.account, stored.result = account, result[:200]
        stored.save(update_fields=["account", "result"])
    log.info("webhook applied", event_id=event_id, type=kind, result=result)
    return Outcome(200, result)


Handler = Callable[[dict[str, Any]], tuple[BillingAccount | None, str]]


def _locked(customer_id: str = "", account_id: str = "") -> BillingAccount | None:
    accounts = BillingAccount.objects.select_for_update().select_related("owner")
    if account_id:
        found = accounts.filter(pk=account_id).first()
        if found is not None:
            return found
    return accounts.filter(customer_id=customer_id).first() if customer_id else None


def _customer(obj: dict[str, Any]) -> str:
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return str(customer or "")


def _checkout_completed(obj: dict[str, Any]) -> tuple[BillingAccount | None, str]:
    session = client.retrieve_checkout_session(str(obj["id"]))
    reference = str(session.get("client_reference_id") or "")
    account = _locked(_customer(session), _uuid_or_empty(reference))
    if account is None:
        return None, "no account for this customer"
    subscription = session.get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    if session.get("status") != "complete" or not subscription:
        return account, "checkout not complete"
    taken = sync.refresh_subscription(account, str(subscription))
    return account, f"subscription {account.status}" if taken else "older subscription"


def _subscription_changed(obj: dict[str, Any]) -> tuple[BillingAccount | None, str]:
    account = _locked(_customer(obj))
    if account is None:
        return None, "no account for this customer"
    try:
        current = client.retrieve_subscription(str(obj["id"]))
    except client.ProcessorRefused:
        current = obj  # gone at the processor (deleted): the event's copy is all there is
    taken = sync.apply_subscription(account, current)
    return account, f"subscription {account.status}" if taken else "older subscription"


def _invoice_paid(obj: dict[str, Any]) -> tuple[BillingAccount | None, str]:
    account = _locked(_customer(obj))
    if account is None:
        return None, "no account for this customer"
    invoice = client.retrieve_invoice(str(obj["id"]))
    record = sync.record_invoice(account, invoice)
    subscription = invoice.get("subscription")
    if subscription:
        sync.refresh_subscription(account, str(subscription))
    return account, "invoice recorded" if record else f"invoice {invoice.get('status')}"


def _invoice_failed(obj: dict[str, Any]) -> tuple[BillingAccount | None, str]:
    account = _locked(_customer(obj))
    if account is None:
        return None, "no account for this customer"
    invoice = client.retrieve_invoice(str(obj["id"]))
    subscription = invoice.get("subscription") or account.subscription_id
    if subscription:
        sync.refresh_subscription(account, str(subscription))
    return account, f"payment failed; subscription {account.status}"


def _uuid_or_empty(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return ""


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_succeeded": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
}
