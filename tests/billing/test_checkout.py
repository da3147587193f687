"""Subscribing: the processor's hosted page takes the card, the signed webhook (never the
redirect) sets the plan, and the server, never the form, chooses the price."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.billing.checkout import money
from mailpanel.billing.models import BillingAccount, Status
from tests.billing.conftest import (
    BUSINESS,
    CONTACT,
    DECLINED,
    PRO,
    WEBHOOK_SECRET,
    Processor,
    account_of,
    billing_on,
    pay,
    subscribe,
    wait_for_status,
)

pytestmark = pytest.mark.django_db(transaction=True)


def checkout_sessions(processor: Processor) -> list[dict[str, Any]]:
    """What the panel asked the processor for a checkout (form-encoded, as the SDK sends)."""
    return [
        r for r in processor.lab.requests()
        if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"
    ]  # fmt: skip


def test_a_free_user_subscribes_and_the_webhook_not_the_redirect_sets_the_plan(
    processor: Processor, user: User, owner_client: Client
) -> None:
    page = owner_client.get(reverse("billing"))
    assert page.status_code == 200
    assert b'data-plan="free"' in page.content and b"Continue to payment" in page.content
    policy = dict(d.strip().split(" ", 1) for d in page["Content-Security-Policy"].split(";"))
    assert policy["form-action"] == f"'self' {processor.lab.api_base}"  # its hosted pages
    assert policy["script-src"] == "'self'" and policy["frame-src"] == "'self'"
    header = owner_client.get(reverse("servers"))["Content-Security-Policy"]
    elsewhere = dict(d.strip().split(" ", 1) for d in header.split(";"))
    assert elsewhere["form-action"] == "'self'" and processor.lab.api_base not in header

    back = subscribe(owner_client)

    path = reverse("billing")
    assert back.startswith(f"{settings.PUBLIC_URL}{path}?checkout=done&session=cs_"), back
    account = wait_for_status(user, Status.ACTIVE)
    assert (account.plan, account.customer_id != "") == ("pro", True)
    assert account.current_period_end is not None
    assert (account.card_brand, account.card_last4, account.card_exp_month) == ("visa", "4242", 12)
    sub = processor.subscription(account.subscription_id)
    assert (sub["status"], sub["customer"]) == ("active", account.customer_id)
    kinds = [kind for kind, status in processor.delivered() if status == 200]
    assert "checkout.session.completed" in kinds
    assert all(status == 200 for _, status in processor.delivered())
    shown = owner_client.get(back.removeprefix(settings.PUBLIC_URL))
    assert shown.status_code == 200 and b'data-plan="pro"' in shown.content
    assert b"The payment processor" in shown.content and b"Manage billing" in shown.content


def test_the_return_from_checkout_alone_changes_nothing(
    processor: Processor, user: User, owner_client: Client
) -> None:
    processor.lab.forget_webhooks()
    response = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    session_url = response["Location"]
    back = pay(session_url).headers["location"]
    assert "checkout=done" in back

    page = owner_client.get(reverse("billing"), {"checkout": "done", "session": "cs_x"})

    assert b"confirms the payment to the panel directly" in page.content
    assert account_of(user).status == Status.NONE and b'data-plan="free"' in page.content
    completed = processor.event_ids("checkout.session.completed")
    assert len(completed) == 1
    processor.lab.register_webhook(processor.webhook_url, WEBHOOK_SECRET)
    processor.lab.resend(completed[0])
    assert wait_for_status(user, Status.ACTIVE).plan == "pro"


def test_the_server_chooses_the_price_whatever_the_form_says(
    processor: Processor, user: User, owner_client: Client
) -> None:
    tampered = {"plan": "pro", **CONTACT, "price": BUSINESS, "line_items[0][price]": BUSINESS}
    response = owner_client.post(reverse("billing_subscribe"), tampered)
    assert response.status_code == 302
    for unknown in ("enterprise", BUSINESS, "free", ""):
        refused = owner_client.post(reverse("billing_subscribe"), {**CONTACT, "plan": unknown})
        assert refused.status_code == 400, unknown
        assert b"Select a valid choice" in refused.content or b"required" in refused.content
    sent = checkout_sessions(processor)
    assert len(sent) == 1
    form = sent[0]["params"]
    assert form["line_items[0][price]"] == PRO and form["mode"] == "subscription"
    assert form["client_reference_id"] == str(account_of(user).pk)


def test_a_declined_card_creates_nothing_and_the_plan_stays_free(
    processor: Processor, user: User, owner_client: Client
) -> None:
    response = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    declined = pay(response["Location"], DECLINED)
    assert declined.status_code == 402 and "declined" in declined.text.lower()
    assert processor.sdk.v1.subscriptions.list().data == []
    assert account_of(user).status == Status.NONE
    assert processor.event_ids("checkout.session.completed") == []


def test_bad_contact_fields_are_refused_before_the_processor_is_asked(
    processor: Processor, user: User, owner_client: Client
) -> None:
    bad = [("country", "Germany"), ("vat_id", "12"), ("email", "no"), ("name", ""),
           ("name", "Olive\x00Evil"), ("company", "A\x1bB")]  # fmt: skip
    for field, value in bad:
        response = owner_client.post(
            reverse("billing_subscribe"), {"plan": "pro", **CONTACT, field: value}
        )
        assert response.status_code == 400, field
        assert response.context["form"].errors[field], field
    assert processor.lab.requests() == []
    assert not BillingAccount.objects.filter(owner=user).exists()


def test_a_second_submit_makes_no_second_customer(
    processor: Processor, user: User, owner_client: Client
) -> None:
    for _ in range(2):
        response = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
        assert response.status_code == 302
    made = [r for r in processor.lab.requests() if r["path"] == "/v1/customers"]
    assert len(made) == 1 and made[0]["idempotency_key"] == f"customer-{account_of(user).pk}"
    assert len(checkout_sessions(processor)) == 2  # two sessions, for the one customer
    assert {s["params"]["customer"] for s in checkout_sessions(processor)} == {
        account_of(user).customer_id
    }


def test_amounts_are_shown_in_the_currencys_units() -> None:
    assert [money(999, "eur"), money(1071, "usd"), money(950, "gbp")] == [
        "9.99 EUR", "10.71 USD", "9.50 GBP"
    ]  # fmt: skip
    assert money(500, "jpy") == "500 JPY" and money(5, "eur") == "0.05 EUR"


def test_a_user_with_a_subscription_cannot_start_a_second(
    subscribed: BillingAccount, owner_client: Client, processor: Processor
) -> None:
    for status in (Status.ACTIVE, Status.PAST_DUE, Status.UNPAID):
        BillingAccount.objects.filter(pk=subscribed.pk).update(status=status)
        response = owner_client.post(reverse("billing_subscribe"), {"plan": "business", **CONTACT})
        assert response.status_code == 409, status
        assert b"You have a subscription already" in response.content
    assert len(checkout_sessions(processor)) == 1


class Unwell:
    """A processor that answers every request with ``status`` (counting them)."""

    def __init__(self, status: int) -> None:
        self.hits, self.status = 0, status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b'{"error": {"type": "api_error", "message": "unwell"}}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(params=[500, 503, 429])
def unwell(request: pytest.FixtureRequest) -> Iterator[Unwell]:
    made = Unwell(request.param)
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_a_processor_down_or_busy_gets_a_clear_message_and_bounded_retries(
    unwell: Unwell, settings: Any, user: User, owner_client: Client
) -> None:
    billing_on(settings, unwell.url)
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    response = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    assert response.status_code == 409
    assert b"did not answer" in response.content and b"try again" in response.content
    # 5xx: the first try and two retries. A plain 429 is not retried: the SDK retries one
    # only when the processor says so (Stripe-Should-Retry), so the user retries, later.
    assert unwell.hits == (1 if unwell.status == 429 else 3)
    assert not BillingAccount.objects.filter(owner=user).exclude(customer_id="").exists()


def test_a_processor_that_refuses_connections_gets_the_same_clear_message(
    settings: Any, user: User, owner_client: Client
) -> None:
    billing_on(settings)  # the discard port: nothing listens
    response = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    assert response.status_code == 409 and b"did not answer" in response.content


def test_two_checkouts_paid_leave_one_subscription(
    processor: Processor, user: User, owner_client: Client
) -> None:
    processor.lab.forget_webhooks()  # two tabs: both sessions paid before the panel hears
    first = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    second = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    assert pay(first["Location"]).status_code == pay(second["Location"]).status_code == 303
    processor.lab.register_webhook(processor.webhook_url, WEBHOOK_SECRET)
    for event in processor.event_ids("checkout.session.completed")[::-1]:  # the later first
        assert [d["status"] for d in processor.lab.resend(event)] == [200]

    subs = processor.sdk.v1.subscriptions.list({"status": "all"}).data
    live = [s for s in subs if s.status == "active"]
    assert len(subs) == 2 and len(live) == 1
    account = account_of(user)
    assert (account.subscription_id, account.status) == (live[0].id, Status.ACTIVE)
    assert min(subs, key=lambda s: (s.created, s.id)).id == live[0].id  # the first one kept
    for event in processor.event_ids("customer.subscription.deleted"):
        processor.lab.resend(event)  # news of the canceled second changes nothing
    assert account_of(user).status == Status.ACTIVE
