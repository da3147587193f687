"""The lab's Stripe: localstripe behind the lab's front, driven with the Stripe SDK."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import stripe

from lab.stripe_lab import StripeLab, StripeLabError

SECRET = "whsec_lab_test_secret"
PLAN = "pro-monthly"
GOOD, DECLINED, FAILS_LATER = "4242 4242 4242 4242", "4000 0000 0000 0002", "4000000000000341"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class WebhookReceiver:
    """The panel's side of webhooks: records every delivery, checks each one's signature."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._changed:
                    receiver.deliveries.append((body, self.headers["Stripe-Signature"]))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/billing/webhook"

    def events(self, secret: str = SECRET) -> list[stripe.Event]:
        with self._changed:
            deliveries = list(self.deliveries)
        return [stripe.Webhook.construct_event(body, sig, secret) for body, sig in deliveries]

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 5.0) -> stripe.Event:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [event for event in self.events() if event.type == event_type]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    types = [event.type for event in self.events()]
                    raise AssertionError(f"no {event_type} ({count}) within {timeout} s: {types}")
                self._changed.wait(left)

    def clear(self) -> None:
        with self._changed:
            self.deliveries.clear()


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture(scope="module")
def stripe_lab(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver
) -> Iterator[StripeLab]:
    lab = StripeLab(tmp_path_factory.mktemp("stripe") / "requests.jsonl").start()
    pid = lab.localstripe_pid
    try:
        lab.register_webhook(receiver.url, SECRET)
        yield lab
    finally:
        lab.stop()
    assert pid is not None and not Path(f"/proc/{pid}").exists()


@pytest.fixture
def lab(stripe_lab: StripeLab, receiver: WebhookReceiver) -> StripeLab:
    stripe_lab.flush()
    receiver.clear()
    stripe_lab.create_plan(PLAN, 900, name="Pro")
    return stripe_lab


def sdk(api_key: str, api_base: str) -> stripe.StripeClient:
    session = requests.Session()
    session.trust_env = False  # no proxy variable may send lab traffic anywhere else
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(session=session),
    )


@pytest.fixture
def client(lab: StripeLab) -> stripe.StripeClient:
    return sdk(lab.api_key, lab.api_base)


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10.0) as made:
        yield made


def plain(obj: stripe.StripeObject | None) -> dict[str, Any]:
    """An SDK object as a dict (in SDK 16 it no longer is one)."""
    assert obj is not None
    return obj.to_dict()


def default_card(client: stripe.StripeClient, customer: str) -> Any:
    settings = plain(client.v1.customers.retrieve(customer))["invoice_settings"]
    method = settings["default_payment_method"]
    return client.v1.payment_methods.retrieve(method).card if method else None


def card(number: str) -> dict[str, str]:
    return {"number": number, "exp_month": "12", "exp_year": str(time.gmtime().tm_year + 3),
            "cvc": "123"}  # fmt: skip


def checkout(client: stripe.StripeClient, email: str = "olive@example.test") -> Any:
    customer = client.v1.customers.create({"email": email, "address": {"country": "FR"}})
    return client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": PLAN, "quantity": 1}],
            "success_url": "http://127.0.0.1:8000/billing/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://127.0.0.1:8000/billing",
            "client_reference_id": "user-7",
            "metadata": {"user": "7"},
        }
    )


def subscribe(client: stripe.StripeClient, browser: httpx.Client) -> tuple[Any, str]:
    """A customer subscribed through Checkout with the good card; (session, subscription)."""
    session = checkout(client)
    paid = browser.post(session.url, data=card(GOOD))
    assert paid.status_code == 303, paid.text
    subscription = client.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(subscription, str)
    return session, subscription


# --- Checkout ------------------------------------------------------------------------


def test_a_good_card_completes_the_checkout_and_the_panel_hears_of_it(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, receiver: WebhookReceiver
) -> None:
    session = checkout(client)
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.url == f"{lab.api_base}/pay/{session.id}" and session.subscription is None
    form = browser.get(session.url)
    assert form.status_code == 200 and 'name="number"' in form.text and 'name="cvc"' in form.text

    paid = browser.post(session.url, data=card(GOOD))

    assert paid.status_code == 303
    assert paid.headers["location"] == f"http://127.0.0.1:8000/billing/done?session={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.to_dict()["metadata"] == {"user": "7"} and done.client_reference_id == "user-7"
    assert isinstance(done.subscription, str)
    subscription = client.v1.subscriptions.retrieve(done.subscription)
    assert subscription.status == "active" and subscription.customer == session.customer
    item = subscription["items"].data[0]
    assert item.price.id == PLAN and item.current_period_end > time.time()
    assert default_card(client, str(session.customer)).last4 == "4242"
    event = receiver.wait_for("checkout.session.completed")  # its signature checked
    assert event.data.object["id"] == session.id
    assert event.data.object["subscription"] == done.subscription
    with pytest.raises(stripe.SignatureVerificationError):
        receiver.events(secret="whsec_someone_else")


def test_the_declining_card_is_refused_and_nothing_is_made(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client
) -> None:
    session = checkout(client)

    refused = browser.post(session.url, data=card(DECLINED))

    assert refused.status_code == 402 and "Your card was declined." in refused.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    customer = str(session.customer)
    assert client.v1.subscriptions.list({"customer": customer, "status": "all"}).data == []
    assert client.v1.payment_methods.list({"customer": customer, "type": "card"}).data == []
    assert default_card(client, customer) is None
    assert "checkout.session.completed" not in [event["type"] for event in lab.events()]


def test_a_card_whose_charge_fails_leaves_an_unpaid_subscription_that_a_good_card_pays(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, receiver: WebhookReceiver
) -> None:
    session = checkout(client)

    failed = browser.post(session.url, data=card(FAILS_LATER))

    assert failed.status_code == 402 and "Your card was declined." in failed.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    (incomplete,) = client.v1.subscriptions.list(
        {"customer": str(session.customer), "status": "all"}
    ).data
    assert incomplete.status == "incomplete"
    unpaid = receiver.wait_for("invoice.payment_failed").data.object
    assert unpaid["subscription"] == incomplete.id
    assert client.v1.invoices.retrieve(unpaid["id"]).status == "open"

    assert browser.post(session.url, data=card(GOOD)).status_code == 303
    assert client.v1.checkout.sessions.retrieve(session.id).subscription == incomplete.id
    assert client.v1.subscriptions.retrieve(incomplete.id).status == "active"
    assert client.v1.invoices.retrieve(unpaid["id"]).status == "paid"
    updated = receiver.wait_for("customer.subscription.updated")
    assert plain(updated.data.previous_attributes)["status"] == "incomplete"


def test_a_card_with_spaces_is_taken_and_a_bad_number_is_not(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client
) -> None:
    session = checkout(client)
    wrong = browser.post(session.url, data=card("4242 4242 4242 4241"))
    assert wrong.status_code == 400 and "Your card number is invalid." in wrong.text
    assert browser.post(session.url, data=card(" 4242 4242  4242 4242 ")).status_code == 303


# --- Billing Portal and the end of the period ------------------------------------------


def test_the_portal_cancels_at_period_end_and_the_period_end_cancels(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, receiver: WebhookReceiver
) -> None:
    session, sub_id = subscribe(client, browser)
    portal = client.v1.billing_portal.sessions.create(
        {"customer": str(session.customer), "return_url": "http://127.0.0.1:8000/billing"}
    )
    assert portal.url == f"{lab.api_base}/portal/{portal.id}"
    page = browser.get(portal.url)
    assert "Cancel at period end" in page.text
    assert 'href="http://127.0.0.1:8000/billing">Return to the panel' in page.text

    back = browser.post(portal.url, data={"subscription": sub_id, "action": "cancel"})

    assert back.status_code == 303 and back.headers["location"] == f"/portal/{portal.id}"
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True
    updated = receiver.wait_for("customer.subscription.updated").data
    assert plain(updated.previous_attributes) == {"cancel_at_period_end": False}
    assert updated.object["cancel_at_period_end"] is True

    ended = lab.end_period(sub_id)

    assert ended["ended"] is True
    assert client.v1.subscriptions.retrieve(sub_id).status == "canceled"
    assert receiver.wait_for("customer.subscription.deleted").data.object["id"] == sub_id
    sources = {event["type"]: event["source"] for event in lab.events()}
    assert sources["customer.subscription.deleted"] == "localstripe"
    assert sources["customer.subscription.updated"] == "front"


def test_the_end_of_a_period_leaves_a_renewing_subscription_alone(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client
) -> None:
    _, sub_id = subscribe(client, browser)
    assert lab.end_period(sub_id)["ended"] is False
    assert client.v1.subscriptions.retrieve(sub_id).status == "active"


# --- failed payments -------------------------------------------------------------------


def test_a_failed_payment_makes_the_subscription_past_due_wherever_it_is_read(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, receiver: WebhookReceiver
) -> None:
    session, sub_id = subscribe(client, browser)

    failed = lab.fail_payment(sub_id)

    assert failed["subscription"]["status"] == "past_due"
    assert client.v1.subscriptions.retrieve(sub_id).status == "past_due"
    listed = client.v1.subscriptions.list({"customer": str(session.customer)}).data
    assert [sub.status for sub in listed] == ["past_due"]
    invoice = receiver.wait_for("invoice.payment_failed").data.object
    assert invoice["id"] == failed["invoice"]["id"] and invoice["subscription"] == sub_id
    assert client.v1.invoices.retrieve(invoice["id"]).status == "open"
    updated = receiver.wait_for("customer.subscription.updated").data
    assert updated.object["status"] == "past_due"
    assert plain(updated.previous_attributes)["status"] == "active"
    assert default_card(client, str(session.customer)).last4 == "4242"  # the customer's own

    client.v1.invoices.pay(invoice["id"])  # the customer pays after all

    assert client.v1.subscriptions.retrieve(sub_id).status == "active"
    again = receiver.wait_for("customer.subscription.updated", count=2).data
    assert plain(again.previous_attributes)["status"] == "past_due"


# --- the API front -------------------------------------------------------------------


def test_the_request_log_holds_what_the_panel_sent_and_not_the_card(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client
) -> None:
    subscribe(client, browser)
    sent = lab.requests()
    created = next(entry for entry in sent if entry["path"] == "/v1/customers")
    assert created["method"] == "POST" and created["status"] == 200
    assert created["params"] == {"email": "olive@example.test", "address[country]": "FR"}
    made = next(entry for entry in sent if entry["path"] == "/v1/checkout/sessions")
    assert made["params"]["line_items[0][price]"] == PLAN
    assert not any(entry["path"].startswith("/pay/") for entry in sent)
    assert "4242424242424242" not in lab.log_path.read_text()


def test_an_unknown_session_is_a_stripe_shaped_404(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.retrieve("cs_test_nothing")
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    answer = browser.get(f"{lab.api_base}/v1/checkout/sessions/cs_test_nothing")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "cs_test_nothing" in answer.json()["error"]["message"]
    assert browser.get(f"{lab.api_base}/pay/cs_test_nothing").status_code == 404


def test_a_checkout_without_a_customer_or_with_an_unknown_price_is_refused(
    lab: StripeLab, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"email": "olive@example.test"})
    url = "http://127.0.0.1:8000/done"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(
            {"mode": "subscription", "success_url": url, "line_items": [{"price": PLAN}]}
        )
    assert missing.value.http_status == 400 and missing.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create(
            {
                "mode": "subscription",
                "success_url": url,
                "customer": customer.id,
                "line_items": [{"price": "no-such-plan"}],
            }
        )
    assert unknown.value.param == "line_items[0][price]"
    assert unknown.value.code == "resource_missing"


def test_a_subscription_may_name_its_plan_as_a_price(
    lab: StripeLab, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"email": "olive@example.test"})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    made = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": PLAN}]})
    assert made.status == "active" and made["items"].data[0].price.unit_amount == 900
    assert client.v1.prices.retrieve(PLAN).recurring is not None


def test_a_resent_event_arrives_again_with_a_fresh_signature(
    lab: StripeLab, client: stripe.StripeClient, browser: httpx.Client, receiver: WebhookReceiver
) -> None:
    subscribe(client, browser)
    first = receiver.wait_for("checkout.session.completed")

    (delivery,) = lab.resend(first.id)

    assert delivery["status"] == 200
    second = receiver.wait_for("checkout.session.completed", count=2)
    assert second.id == first.id
    (record,) = [event for event in lab.events() if event["id"] == first.id]
    assert len(record["deliveries"]) == 2


def test_webhooks_go_to_the_lab_only(lab: StripeLab) -> None:
    with pytest.raises(StripeLabError, match="lab rule"):
        lab.register_webhook("https://hooks.example.com/stripe", SECRET)
    with pytest.raises(StripeLabError, match="lab rule"):
        lab.register_webhook("http://192.0.2.10/stripe", SECRET)


# --- processes -----------------------------------------------------------------------


def test_a_stopped_lab_leaves_no_process_behind(tmp_path: Path) -> None:
    with StripeLab(tmp_path / "requests.jsonl") as lab:
        pid = lab.localstripe_pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
    assert not Path(f"/proc/{pid}").exists()


def test_the_command_line_peer_serves_and_takes_localstripe_down_with_it(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):  # a clean stop, and a crash
        cmd = [sys.executable, "-m", "lab.stripe_lab", "--log", str(tmp_path / "log.jsonl")]
        with subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        ) as proc:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("stripe lab listening on http://127.0.0.1:"), line
            api_base = line.split()[4]
            localstripe = int(line.split("localstripe pid ")[1].split()[0])
            client = sdk("sk_test_lab", api_base)
            assert client.v1.customers.create({"email": "a@example.test"}).id.startswith("cus_")
            os.kill(proc.pid, sig)
            proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{localstripe}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{localstripe}").exists(), sig
