"""Subscribing and managing billing: the processor's hosted pages do the card, we send the
billing contact and nothing else, and the server (never a form) picks the price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.billing import client, sync
from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.plans import billing_enabled, plans

log = structlog.get_logger(__name__)
CONTACT_FIELDS = ("name", "email", "company", "country", "vat_id")


class CheckoutRefused(Exception):
    """Not now; the text is for the user."""


def contact_params(account: BillingAccount, *, creating: bool) -> dict[str, Any]:
    """The billing contact as the processor's Customer holds it: all it is ever sent."""
    params: dict[str, Any] = {
        "name": account.name,
        "email": account.email,
        "address": {"country": account.country},
        "metadata": {"company": account.company} if account.company else {},
    }
    if account.vat_id and creating:  # tax ids are added at creation only
        params["tax_id_data"] = [{"type": "eu_vat", "value": account.vat_id}]
    return params


def save_contact(owner: User, contact: dict[str, str]) -> BillingAccount:
    """Store the contact and make or update the processor's Customer with it.

    The account row stays locked while a customer is made (and the request carries an
    idempotency key), so a double submit makes one customer, not two.
    """
    with transaction.atomic():
        account, _ = BillingAccount.objects.select_for_update().get_or_create(
            owner=owner, defaults={k: contact.get(k, "") for k in CONTACT_FIELDS}
        )
        for key in CONTACT_FIELDS:
            setattr(account, key, contact.get(key, ""))
        if not account.customer_id:
            params = contact_params(account, creating=True)
            customer = client.create_customer(params, idempotency_key=f"customer-{account.pk}")
            account.customer_id = str(customer["id"])
        elif not _contact_unchanged(account):
            client.update_customer(account.customer_id, contact_params(account, creating=False))
        account.save()
    return account


def _contact_unchanged(account: BillingAccount) -> bool:
    stored = BillingAccount.objects.filter(pk=account.pk).values(*CONTACT_FIELDS).first()
    return bool(stored == {k: getattr(account, k) for k in CONTACT_FIELDS})


def start_checkout(owner: User, plan_key: str, contact: dict[str, str]) -> str:
    """The URL of the processor's hosted checkout for ``plan_key``."""
    if not billing_enabled():
        raise CheckoutRefused("Billing is off on this panel: every feature is yours already.")
    chosen = plans().get(plan_key)
    if chosen is None or not chosen.price:
        raise CheckoutRefused("Choose one of the plans shown.")
    existing = BillingAccount.objects.filter(owner=owner).first()
    if existing is not None and existing.status in sync.LIVE:
        raise CheckoutRefused(
            "You have a subscription already: change plans, update the payment method or "
            "cancel under Manage billing."
        )
    account = save_contact(owner, contact)
    base = settings.PUBLIC_URL.rstrip("/") + reverse("billing")
    session = client.create_checkout_session(
        {
            "mode": "subscription",
            "customer": account.customer_id,
            "client_reference_id": str(account.pk),
            "line_items": [{"price": chosen.price, "quantity": 1}],
            "success_url": base + "?checkout=done&session={CHECKOUT_SESSION_ID}",
            "cancel_url": base + "?checkout=canceled",
        }
    )
    log.info("checkout started", account=str(account.pk), plan=chosen.key)
    return str(session["url"])


def portal_url(owner: User) -> str:
    account = BillingAccount.objects.filter(owner=owner).exclude(customer_id="").first()
    if account is None:
        raise CheckoutRefused("There is nothing to manage yet: subscribe to a plan first.")
    return_url = settings.PUBLIC_URL.rstrip("/") + reverse("billing")
    return str(client.create_portal_session(account.customer_id, return_url)["url"])


def invoices(owner: User) -> list[dict[str, Any]]:
    """The user's invoices as the processor lists them (date, amount, status, its link)."""
    account = BillingAccount.objects.filter(owner=owner).exclude(customer_id="").first()
    if account is None:
        return []
    rows = []
    for invoice in client.list_invoices(account.customer_id):
        rows.append(
            {
                "number": invoice.get("number") or invoice.get("id"),
                "created": sync.from_timestamp(invoice.get("created")),
                "amount": money(
                    int(invoice.get("amount_due") or invoice.get("total") or 0),
                    str(invoice.get("currency") or ""),
                ),
                "currency": str(invoice.get("currency") or "").upper(),
                "status": invoice.get("status") or "",
                "url": _https_or_lab(invoice.get("hosted_invoice_url") or ""),
            }
        )
    return rows


# Currencies the processor counts in whole units (no minor unit); every other in cents.
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)


def money(amount: int, currency: str) -> str:
    """An amount in the currency's minor unit as people write it: 999 eur -> "9.99 EUR"."""
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {code}"
    return f"{Decimal(amount) / 100:.2f} {code}"


def _https_or_lab(url: str) -> str:
    """Only a link the processor gave over https (or on the configured API's own origin)."""
    if url.startswith("https://") or url.startswith(settings.STRIPE_API_BASE.rstrip("/") + "/"):
        return url
    return ""


def subscription_to_cancel(owner: User) -> BillingAccount | None:
    """The account whose live subscription deleting ``owner`` cancels first (or None)."""
    account = BillingAccount.objects.filter(owner=owner).exclude(subscription_id="").first()
    if account is None or account.status in sync.ENDED or not billing_enabled():
        return None
    return account


def cancel_for_deletion(owner: User) -> bool:
    """Account deletion: every live subscription of the customer is canceled at the
    processor first (a second one a double checkout made too); whether one was. Raises
    ProcessorError when it cannot be (the deletion then waits)."""
    account = BillingAccount.objects.filter(owner=owner).exclude(customer_id="").first()
    if account is None or not billing_enabled():
        return False
    canceled = 0
    for sub in client.list_subscriptions(account.customer_id):
        if sub.get("status") in sync.ENDED:
            continue
        try:
            client.cancel_subscription(str(sub["id"]))
        except client.ProcessorRefused:
            if client.retrieve_subscription(str(sub["id"])).get("status") not in sync.ENDED:
                raise
        canceled += 1
    BillingAccount.objects.filter(pk=account.pk).update(status=Status.CANCELED, plan="free")
    log.info("subscriptions canceled for deletion", account=str(account.pk), count=canceled)
    return canceled > 0
