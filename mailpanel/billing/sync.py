"""The panel's copy of a subscription follows the processor's: always from an object just
fetched from its API, never from the copy an event carried (events arrive late, twice and
out of order; the current object is the truth)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from mailpanel.billing import client
from mailpanel.billing.models import BillingAccount, InvoiceRecord, Status
from mailpanel.billing.plans import FREE, plan_for_price

log = structlog.get_logger(__name__)
ENDED = (Status.CANCELED, Status.INCOMPLETE_EXPIRED)
# Still the user's subscription (being paid, or to be): a second one is never kept.
LIVE = (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE, Status.UNPAID)


def from_timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _items(sub: dict[str, Any]) -> list[dict[str, Any]]:
    items = sub.get("items") or {}
    data: list[dict[str, Any]] = items.get("data") or []
    return data


def price_of(sub: dict[str, Any]) -> str:
    """The subscription's price id (its plan id on processors that still speak of plans)."""
    for item in _items(sub):
        for key in ("price", "plan"):
            found = item.get(key)
            if isinstance(found, dict) and found.get("id"):
                return str(found["id"])
            if isinstance(found, str) and found:
                return found
    return ""


def period_end(sub: dict[str, Any]) -> datetime | None:
    """At the top (older API versions) or on each item (newer ones)."""
    if sub.get("current_period_end"):
        return from_timestamp(sub["current_period_end"])
    ends = [item["current_period_end"] for item in _items(sub) if item.get("current_period_end")]
    return from_timestamp(max(ends)) if ends else None


def apply_subscription(
    account: BillingAccount,
    sub: dict[str, Any],
    card: dict[str, Any] | None = None,
    fetched_at: datetime | None = None,
) -> str:
    """Copy a subscription fetched at ``fetched_at`` (and the default card's display data,
    when it was fetched) onto the account, locked by the caller; "" when it was taken,
    else why not: news of an older subscription than the account's (by when it was made),
    or a snapshot of the same one fetched before the one the account holds."""
    status = str(sub.get("status") or "")
    fetched_at = fetched_at or timezone.now()
    if status not in Status.values:
        log.warning("unknown subscription status", status=status)
        return f"unknown status {status[:40]}"
    if _older(account, sub, status):
        log.info("news of an earlier subscription ignored", account=str(account.pk))
        return "older subscription"
    same = sub["id"] == account.subscription_id
    if same and account.synced_at is not None and fetched_at < account.synced_at:
        log.info("an older snapshot ignored", account=str(account.pk))
        return "older snapshot"
    was_past_due = account.status == Status.PAST_DUE
    account.subscription_id = str(sub["id"])
    account.subscription_started_at = from_timestamp(sub.get("created"))
    account.status = status
    account.plan = FREE if status in ENDED else (plan_for_price(price_of(sub)) or account.plan)
    account.current_period_end = period_end(sub)
    account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    if status == Status.PAST_DUE and not was_past_due:
        account.past_due_since = timezone.now()
        account.past_due_notice_sent_at = None
        transaction.on_commit(partial(_tell_past_due, account.pk))
    elif status != Status.PAST_DUE:
        account.past_due_since = account.past_due_notice_sent_at = None
    if card is not None:
        copy_card(account, card)
    account.synced_at = fetched_at
    account.save()
    log.info("subscription synced", account=str(account.pk), status=status, plan=account.plan)
    return ""


def _older(account: BillingAccount, sub: dict[str, Any], status: str) -> bool:
    """News of another subscription than the account's that must not replace it: one that
    ended while the account's is live, or one made before the account's."""
    if not account.subscription_id or sub["id"] == account.subscription_id:
        return False
    if status in ENDED and account.status in LIVE:
        return True
    started, current = from_timestamp(sub.get("created")), account.subscription_started_at
    return started is not None and current is not None and started < current


def card_of(customer_id: str) -> dict[str, Any]:
    """The display data of the customer's default card ({} when it has none)."""
    customer = client.retrieve_customer(customer_id)
    method = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(method, dict):
        method = method.get("id")
    if not method:
        return {}
    card: dict[str, Any] = client.retrieve_payment_method(str(method)).get("card") or {}
    return card


def copy_card(account: BillingAccount, card: dict[str, Any]) -> None:
    """Brand, last 4, expiry: nothing else of a card is kept."""
    account.card_brand = str(card.get("brand") or "")[:32]
    account.card_last4 = str(card.get("last4") or "")[-4:]
    account.card_exp_month = card.get("exp_month") or None
    account.card_exp_year = card.get("exp_year") or None


def record_invoice(account: BillingAccount, invoice: dict[str, Any]) -> InvoiceRecord | None:
    """A paid invoice, kept with the billing contact of its day (tax law)."""
    if invoice.get("status") != "paid":
        return None
    record, _ = InvoiceRecord.objects.update_or_create(
        invoice_id=str(invoice["id"]),
        defaults={
            "owner": account.owner,
            "number": str(invoice.get("number") or "")[:64],
            "amount_paid": int(invoice.get("amount_paid") or 0),
            "currency": str(invoice.get("currency") or "")[:3],
            "issued_at": from_timestamp(invoice.get("created")) or timezone.now(),
            "name": account.name,
            "email": account.email,
            "company": account.company,
            "country": account.country,
            "vat_id": account.vat_id,
        },
    )
    return record


def _tell_past_due(account_pk: Any) -> None:
    from mailpanel.billing.notices import send_past_due_notice

    send_past_due_notice(account_pk)
