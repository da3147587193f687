"""The portal (cancel at period end), the period's end (back to Free, nothing deleted),
invoices read from the processor, what the processor is told (the billing contact, nothing
else), no card data anywhere on the panel, and deletion canceling the subscription first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount, InvoiceRecord, Status
from mailpanel.billing.plans import PlanLimitReached
from mailpanel.domains.actions import add_domain
from mailpanel.servers.actions import add_server
from mailpanel.servers.models import Server
from mailpanel.vault.actions import generate_ssh_key
from tests.billing.conftest import (
    CONTACT,
    CVC,
    GOOD,
    Processor,
    account_of,
    subscribe,
    wait_for_status,
    wait_until,
)
from tests.billing.test_limits import server_fields
from tests.factories import DEFAULT_PASSWORD
from tests.helpers import drain

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_in_the_portal_then_the_period_end_falls_back_to_free_with_all_kept(
    subscribed: BillingAccount, processor: Processor, user: User, owner_client: Client
) -> None:
    for n in range(3):
        add_server(user, **server_fields(user, f"mx{n}"))
    opened = owner_client.post(reverse("billing_portal"))
    assert opened.status_code == 302
    portal = opened["Location"]
    assert portal.startswith(f"{processor.lab.api_base}/portal/")
    with httpx.Client(trust_env=False, timeout=10.0) as browser:
        shown = browser.get(portal)
        assert f'href="{settings.PUBLIC_URL}{reverse("billing")}"' in shown.text
        browser.post(portal, data={"subscription": subscribed.subscription_id, "action": "cancel"})
    wait_until(lambda: account_of(user).cancel_at_period_end, what="cancel at period end")
    page = owner_client.get(reverse("billing"))
    assert b"then the Free plan's limits apply" in page.content

    assert processor.lab.end_period(subscribed.subscription_id)["ended"] is True

    account = wait_for_status(user, Status.CANCELED)
    assert account.plan == "free"
    with pytest.raises(PlanLimitReached, match="Free plan allows 1 server, and you have 3"):
        add_server(user, **server_fields(user, "mx3"))
    assert Server.objects.filter(owner=user).count() == 3
    assert b'data-plan="free"' in owner_client.get(reverse("billing")).content


def test_invoices_are_listed_from_the_processor_and_kept_as_tax_law_asks(
    subscribed: BillingAccount, processor: Processor, user: User, owner_client: Client,
    other_client: Client,
) -> None:  # fmt: skip
    wait_until(lambda: InvoiceRecord.objects.filter(owner=user).exists(), what="invoice kept")
    record = InvoiceRecord.objects.get(owner=user)
    assert (record.amount_paid, record.currency, record.vat_id) == (900, "eur", "DE123456789")
    page = owner_client.get(reverse("billing"))
    assert page.status_code == 200
    [row] = page.context["invoices"]
    assert (row["amount"], row["currency"], row["status"]) == ("9.00 EUR", "EUR", "paid")
    assert b"9.00 EUR" in page.content
    assert row["url"] == f"{processor.lab.api_base}/invoice/{record.invoice_id}"  # the hosted one
    assert row["number"].startswith("LAB-") and f'href="{row["url"]}"'.encode() in page.content
    with httpx.Client(trust_env=False, timeout=10.0) as browser:
        hosted = browser.get(row["url"])
    assert hosted.status_code == 200 and "9.00 EUR, paid" in hosted.text
    listed = [r for r in processor.lab.requests() if r["path"] == "/v1/invoices"]
    assert listed[-1]["params"]["customer"] == subscribed.customer_id
    theirs = other_client.get(reverse("billing"))
    assert theirs.context["invoices"] == [] and b"9.00 EUR" not in theirs.content
    assert b"Manage billing" not in theirs.content
    refused = other_client.post(reverse("billing_portal"), follow=True)
    assert b"nothing to manage yet" in refused.content


# What the panel may tell the processor, request by request (the SDK's bracket keys).
ALLOWED = {
    "/v1/customers": {"name", "email", "address[country]", "metadata[company]",
                      "tax_id_data[0][type]", "tax_id_data[0][value]"},
    "/v1/checkout/sessions": {"mode", "customer", "client_reference_id",
                              "line_items[0][price]", "line_items[0][quantity]",
                              "success_url", "cancel_url"},
    "/v1/billing_portal/sessions": {"customer", "return_url"},
    "/v1/invoices": {"customer", "limit"},
    "/v1/subscriptions": {"customer", "status", "limit"},
}  # fmt: skip


def test_the_processor_hears_the_billing_contact_and_nothing_else(
    processor: Processor, user: User, owner_client: Client
) -> None:
    key = generate_ssh_key(user, "canary-credential-label")
    server = add_server(
        user, name="canary-server", host="192.0.2.44", port=22, username="root",
        credential=key, mail_hostname="mail.canary-host.test",
    )  # fmt: skip
    add_domain(user, server, "canary-domain.test")
    subscribe(owner_client)
    account = wait_for_status(user, Status.ACTIVE)
    owner_client.get(reverse("billing"))
    owner_client.post(reverse("billing_portal"))

    sent = processor.lab.requests()
    writes = [r for r in sent if r["method"] == "POST"]
    assert {r["path"] for r in writes} == {"/v1/customers", "/v1/checkout/sessions",
                                          "/v1/billing_portal/sessions"}  # fmt: skip
    for request in sent:
        allowed = ALLOWED.get(request["path"], set())
        assert set(request["params"]) <= allowed, (request["path"], request["params"])
    [customer] = [r["params"] for r in writes if r["path"] == "/v1/customers"]
    assert customer == {"name": CONTACT["name"], "email": CONTACT["email"],
                        "address[country]": "DE", "metadata[company]": CONTACT["company"],
                        "tax_id_data[0][type]": "eu_vat",
                        "tax_id_data[0][value]": CONTACT["vat_id"]}  # fmt: skip
    everything = json.dumps(sent)
    for canary in ("canary-server", "canary-domain", "canary-credential", "canary-host",
                   "192.0.2.44", user.email, user.full_name):  # fmt: skip
        assert canary not in everything, canary
    assert account.customer_id and account.customer_id in everything


def card_like(value: str) -> bool:
    digits = "".join(c for c in value if c.isdigit())
    return GOOD in digits or "4242 4242" in value


def test_no_card_number_or_cvc_is_anywhere_on_the_panel(
    subscribed: BillingAccount, processor: Processor, user: User, owner_client: Client
) -> None:
    """Every column of every table, the log file, and the panel's pages."""
    processor.delivered()
    found: list[str] = []
    for model in apps.get_models():
        for row in model._default_manager.all().values():
            for field, value in row.items():
                text = str(value)
                if card_like(text) or text == CVC:
                    found.append(f"{model._meta.label}.{field}")
    assert found == []
    account = account_of(user)
    card_fields = {f.name for f in BillingAccount._meta.fields if "card" in f.name}
    assert card_fields == {"card_brand", "card_last4", "card_exp_month", "card_exp_year"}
    assert (account.card_brand, account.card_last4) == ("visa", "4242")
    log = Path(settings.LOG_FILE).read_text() if settings.LOG_FILE else ""
    assert not card_like(log) and f"cvc={CVC}" not in log and '"cvc"' not in log
    page = owner_client.get(reverse("billing")).content.decode()
    assert not card_like(page) and "ending 4242" in page
    assert 'name="number"' not in page and "js.stripe.com" not in page


def test_deleting_the_account_cancels_the_subscription_first_and_keeps_the_invoice(
    subscribed: BillingAccount, processor: Processor, user: User, owner_client: Client,
    queue: Huey,
) -> None:  # fmt: skip
    wait_until(lambda: InvoiceRecord.objects.filter(owner=user).exists(), what="invoice kept")
    page = owner_client.get(reverse("privacy_delete"))
    assert b"data-subscription-canceled" in page.content
    assert b"Invoices: 1, kept without the link to your account" in page.content
    form = {"password": DEFAULT_PASSWORD, "understood": "on"}

    response = owner_client.post(reverse("privacy_delete"), form)

    assert response.status_code == 302, response.content.decode()[:1000]
    assert processor.subscription(subscribed.subscription_id)["status"] == "canceled"
    drain(queue)
    assert not User.objects.filter(pk=user.pk).exists()
    assert not BillingAccount.objects.exists()
    record = InvoiceRecord.objects.get()
    assert record.owner is None and record.amount_paid == 900


def test_a_subscription_already_canceled_at_the_processor_does_not_block_deletion(
    subscribed: BillingAccount, processor: Processor, user: User, owner_client: Client
) -> None:
    processor.lab.forget_webhooks()  # the panel never hears of this cancel
    processor.sdk.v1.subscriptions.cancel(subscribed.subscription_id)
    assert account_of(user).status == Status.ACTIVE
    form = {"password": DEFAULT_PASSWORD, "understood": "on"}
    response = owner_client.post(reverse("privacy_delete"), form)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.deletion_requested_at is not None


def test_deletion_waits_while_the_processor_cannot_cancel(
    subscribed: BillingAccount, user: User, owner_client: Client, settings: Any
) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    form = {"password": DEFAULT_PASSWORD, "understood": "on"}
    response = owner_client.post(reverse("privacy_delete"), form)
    assert response.status_code == 200
    assert b"must be canceled at the payment processor first" in response.content
    user.refresh_from_db()
    assert user.is_active and user.deletion_requested_at is None
    assert account_of(user).status == Status.ACTIVE
