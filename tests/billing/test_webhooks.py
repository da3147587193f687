"""The processor's webhook: signed, stored once by id, applied from the API's current
object, so replays and events out of order end in the processor's state."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount, Status, WebhookEvent
from mailpanel.billing.plans import allowance
from tests.billing.conftest import (
    BUSINESS,
    WEBHOOK_SECRET,
    Processor,
    account_of,
    subscribe,
    wait_for_status,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


def signed(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """A ``Stripe-Signature`` header as the processor makes it."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def post(body: bytes, signature: str) -> Any:
    return Client().post(
        reverse("billing_stripe_webhook"),
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


def event_body(processor: Processor, kind: str) -> bytes:
    """The body of the last event of ``kind`` the processor sent, byte for byte."""
    event = next(e for e in reversed(processor.lab.events()) if e["type"] == kind)
    return json.dumps(event["event"]).encode()


def snapshot(user: User) -> tuple[Any, ...]:
    account = account_of(user)
    fields = ("status", "plan", "current_period_end", "cancel_at_period_end", "synced_at")
    return (*(getattr(account, f) for f in fields), WebhookEvent.objects.count())


@pytest.fixture
def active(processor: Processor, user: User, owner_client: Client) -> BillingAccount:
    subscribe(owner_client)
    account = wait_for_status(user, Status.ACTIVE)
    processor.delivered()
    return account


def test_a_bad_signature_an_old_timestamp_or_no_signature_is_refused(
    active: BillingAccount, processor: Processor, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    body = event_body(processor, "customer.subscription.created")
    before = snapshot(user)
    WebhookEvent.objects.all().delete()
    for signature in [
        signed(body, "whsec_someone_else"),
        signed(body, at=int(time.time()) - 301),  # older than the 300 s tolerance
        signed(body + b" "),  # signed, then changed
        signed(body).replace("v1=", "v0="),
        "",
    ]:
        response = post(body, signature)
        assert response.status_code == 400, signature
    assert WebhookEvent.objects.count() == 0
    assert snapshot(user)[:-1] == before[:-1]
    assert "signature or timestamp wrong" in caplog.text


def test_malformed_json_and_unknown_types_change_nothing(
    active: BillingAccount, user: User
) -> None:
    before = snapshot(user)
    for body in [b"{not json", b"[]", b'{"id": "evt_1", "type": "invoice.paid", "data": 3}']:
        assert post(body, signed(body)).status_code == 400, body
    unknown = json.dumps(
        {
            "id": "evt_unknown_1",
            "object": "event",
            "type": "coupon.created",
            "data": {"object": {"id": "co_1", "object": "coupon"}},
        }
    ).encode()
    response = post(unknown, signed(unknown))
    assert (response.status_code, response.content) == (200, b"ignored")
    assert snapshot(user) == before
    too_big = b"{" + b" " * (600 * 1024) + b"}"
    assert post(too_big, signed(too_big)).status_code == 413


def test_a_replayed_event_changes_nothing(
    active: BillingAccount, processor: Processor, user: User
) -> None:
    before = snapshot(user)
    completed = processor.event_ids("checkout.session.completed")
    deliveries = processor.lab.resend(completed[0])
    assert [d["status"] for d in deliveries] == [200]
    body = event_body(processor, "checkout.session.completed")
    again = post(body, signed(body))
    assert (again.status_code, again.content) == (200, b"already applied")
    assert snapshot(user) == before
    assert WebhookEvent.objects.filter(event_id=completed[0]).count() == 1


def test_subscription_updated_before_checkout_completed_ends_in_the_right_state(
    processor: Processor, user: User, owner_client: Client
) -> None:
    processor.lab.forget_webhooks()  # collect the events, then deliver them out of order
    subscribe(owner_client)
    sub_id = processor.sdk.v1.subscriptions.list().data[0].id
    processor.sdk.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    assert account_of(user).status == Status.NONE  # nothing delivered yet
    processor.lab.register_webhook(processor.webhook_url, WEBHOOK_SECRET)
    order = ["customer.subscription.updated", "invoice.payment_succeeded",
             "customer.subscription.created", "checkout.session.completed"]  # fmt: skip
    answers = [processor.lab.resend(processor.event_ids(kind)[-1])[0]["status"] for kind in order]

    assert answers == [200, 200, 200, 200]
    account = account_of(user)
    now = processor.subscription(sub_id)
    assert (account.status, account.plan, account.subscription_id) == ("active", "pro", sub_id)
    assert account.cancel_at_period_end is True and now["cancel_at_period_end"] is True
    results = dict(WebhookEvent.objects.values_list("type", "result"))
    assert results["customer.subscription.updated"] == "subscription active"
    assert results["checkout.session.completed"] == "subscription active"


def test_an_event_the_panel_could_not_apply_is_applied_once_when_delivered_again(
    active: BillingAccount, processor: Processor, user: User, settings: Any
) -> None:
    processor.sdk.v1.subscriptions.update(active.subscription_id, {"cancel_at_period_end": True})
    processor.delivered()
    updated = processor.event_ids("customer.subscription.updated")[-1]
    WebhookEvent.objects.filter(event_id=updated).delete()
    BillingAccount.objects.filter(pk=active.pk).update(cancel_at_period_end=False)
    api = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the processor's API unreachable

    failed = processor.lab.resend(updated)

    assert [d["status"] for d in failed] == [503]  # Stripe delivers it again later
    assert not WebhookEvent.objects.filter(event_id=updated).exists()
    assert account_of(user).cancel_at_period_end is False
    settings.STRIPE_API_BASE = api
    assert [d["status"] for d in processor.lab.resend(updated)] == [200]
    assert [d["status"] for d in processor.lab.resend(updated)] == [200]
    assert account_of(user).cancel_at_period_end is True
    assert WebhookEvent.objects.filter(event_id=updated).count() == 1


def test_the_subscription_state_follows_the_processor_through_cancel(
    active: BillingAccount, processor: Processor, user: User
) -> None:
    processor.sdk.v1.subscriptions.cancel(active.subscription_id)
    account = wait_for_status(user, Status.CANCELED)
    assert account.plan == "free"
    wait_until(lambda: processor.delivered() != [], what="deliveries")
    assert all(status == 200 for _, status in processor.delivered())


def test_late_news_of_an_earlier_subscription_does_not_overwrite_the_newer_one(
    processor: Processor, user: User, owner_client: Client
) -> None:
    processor.lab.forget_webhooks()  # two subscriptions come and go; the events wait
    subscribe(owner_client)
    [first] = processor.sdk.v1.subscriptions.list().data
    processor.sdk.v1.subscriptions.cancel(first.id)
    time.sleep(1.1)  # "created" counts in seconds
    subscribe(owner_client)
    second = next(s for s in processor.sdk.v1.subscriptions.list({"status": "all"}).data
                  if s.id != first.id)  # fmt: skip
    processor.sdk.v1.subscriptions.cancel(second.id)
    processor.lab.register_webhook(processor.webhook_url, WEBHOOK_SECRET)
    completed = processor.event_ids("checkout.session.completed")
    deleted = processor.event_ids("customer.subscription.deleted")
    assert len(completed) == len(deleted) == 2

    for event in [deleted[1], completed[1], completed[0], deleted[0]]:  # the first one last
        assert [d["status"] for d in processor.lab.resend(event)] == [200]

    account = account_of(user)
    assert (account.subscription_id, account.status) == (second.id, "canceled")
    results = dict(WebhookEvent.objects.values_list("event_id", "result"))
    assert results[completed[0]] == results[deleted[0]] == "older subscription"


def test_a_plan_change_at_the_processor_changes_the_plan_and_its_limits(
    active: BillingAccount, processor: Processor, user: User
) -> None:
    sub = processor.subscription(active.subscription_id)
    item = sub["items"]["data"][0]["id"]
    processor.sdk.v1.subscriptions.update(
        active.subscription_id, {"items": [{"id": item, "price": BUSINESS}]}
    )
    wait_until(lambda: account_of(user).plan == "business", what="the Business plan")
    assert allowance(user).limit("servers") is None
    assert all(status == 200 for _, status in processor.delivered())


def test_news_of_a_subscription_the_processor_does_not_know_is_deferred_unless_ended(
    active: BillingAccount, user: User
) -> None:
    def event(status: str, n: int) -> bytes:
        sub = {"id": "sub_nowhere", "object": "subscription", "status": status,
               "customer": active.customer_id, "created": 1_900_000_000 + n}  # fmt: skip
        return json.dumps({"id": f"evt_nowhere_{n}", "object": "event",
                           "type": f"customer.subscription.{'updated' if n else 'deleted'}",
                           "data": {"object": sub}}).encode()  # fmt: skip

    live = event("active", 1)
    assert post(live, signed(live)).status_code == 503  # not trusted: delivered again
    assert not WebhookEvent.objects.filter(event_id="evt_nowhere_1").exists()
    gone = event("canceled", 0)
    answer = post(gone, signed(gone))  # deleted, not the account's: its own is live
    assert (answer.status_code, answer.content) == (200, b"older subscription")
    assert account_of(user).status == Status.ACTIVE
    BillingAccount.objects.filter(pk=active.pk).update(subscription_id="sub_nowhere")
    WebhookEvent.objects.filter(event_id="evt_nowhere_0").delete()
    answer = post(gone, signed(gone))  # the account's own, gone: its copy is all there is
    assert (answer.status_code, answer.content) == (200, b"subscription canceled")
    assert account_of(user).status == Status.CANCELED
