"""The lab's processor for the billing tests: localstripe behind the lab's front, the panel's
settings pointed at it, and its webhooks delivered to the panel running as a live server."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import stripe
from django.urls import reverse

from lab.stripe_lab import StripeLab
from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount

WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
PRO, BUSINESS = "price_lab_pro", "price_lab_business"
GOOD, DECLINED, FAILS_LATER = "4242424242424242", "4000000000000002", "4000000000000341"
CVC = "739"
CONTACT = {"name": "Olive Billing", "email": "invoices@olive.test", "company": "Olive GmbH",
           "country": "DE", "vat_id": "DE123456789"}  # fmt: skip


def plans(pro: str = PRO, business: str = BUSINESS) -> dict[str, dict[str, Any]]:
    return {
        "free": {"name": "Free", "servers": 1, "domains": 3, "fleet": False, "price": ""},
        "pro": {"name": "Pro", "servers": 10, "domains": 50, "fleet": True, "price": pro,
                "amount": "€9 a month"},
        "business": {"name": "Business", "servers": None, "domains": None, "fleet": True,
                     "price": business, "amount": "€49 a month"},
    }  # fmt: skip


def billing_on(settings: Any, api_base: str = "http://127.0.0.1:9", key: str = "") -> None:
    """Billing on, pointed at ``api_base`` (the discard port by default: nothing answers)."""
    settings.STRIPE_SECRET_KEY = key or "sk_test_" + secrets.token_hex(12)
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = api_base
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 5
    settings.BILLING_PLANS = plans()


@pytest.fixture(scope="session")
def stripe_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StripeLab]:
    lab = StripeLab(tmp_path_factory.mktemp("stripe") / "requests.jsonl").start()
    try:
        yield lab
    finally:
        lab.stop()


@dataclass
class Processor:
    """The lab's Stripe as one test sees it: fresh, with our two prices and our webhook."""

    lab: StripeLab
    webhook_url: str

    @property
    def sdk(self) -> stripe.StripeClient:
        session = requests.Session()
        session.trust_env = False  # no proxy variable may send lab traffic elsewhere
        return stripe.StripeClient(
            self.lab.api_key,
            base_addresses={"api": self.lab.api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(session=session),
        )

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.sdk.v1.subscriptions.retrieve(subscription_id).to_dict()
        return found

    def event_ids(self, kind: str) -> list[str]:
        return [e["id"] for e in self.lab.events() if e["type"] == kind]

    def delivered(self, timeout: float = 30.0) -> list[tuple[str, int | None]]:
        """(event type, the panel's answer) of every delivery, in order, once every event
        sent so far has been delivered."""

        def settled() -> bool:
            return all(e["deliveries"] for e in self.lab.events())

        wait_until(settled, timeout, f"every event delivered ({self.lab.events()})")
        return [(e["type"], d["status"]) for e in self.lab.events() for d in e["deliveries"]]


@pytest.fixture
def processor(stripe_lab: StripeLab, live_server: Any, settings: Any) -> Processor:
    stripe_lab.forget_webhooks()
    stripe_lab.flush()
    url = live_server.url + reverse("billing_stripe_webhook")
    stripe_lab.register_webhook(url, WEBHOOK_SECRET)
    billing_on(settings, stripe_lab.api_base, stripe_lab.api_key)
    stripe_lab.create_plan(PRO, 900, name="Pro")  # its events go to the panel (ignored)
    stripe_lab.create_plan(BUSINESS, 4900, name="Business")
    settings.PUBLIC_URL = live_server.url
    return Processor(stripe_lab, url)


def card(number: str, cvc: str = CVC) -> dict[str, str]:
    return {"number": number, "exp_month": "12", "exp_year": str(time.gmtime().tm_year + 3),
            "cvc": cvc}  # fmt: skip


def pay(checkout_url: str, number: str = GOOD) -> httpx.Response:
    """What the user does on the processor's hosted page: enter the card and submit."""
    with httpx.Client(trust_env=False, timeout=10.0) as browser:
        return browser.post(checkout_url, data=card(number))


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def account_of(user: User) -> BillingAccount:
    return BillingAccount.objects.get(owner=user)


def wait_for_status(user: User, status: str, timeout: float = 30.0) -> BillingAccount:
    def reached() -> bool:
        found = BillingAccount.objects.filter(owner=user).first()
        return found is not None and found.status == status

    wait_until(reached, timeout, f"subscription {status}")
    return account_of(user)


def subscribe(client: Any, plan: str = "pro", number: str = GOOD, **contact: str) -> str:
    """Through the Billing page: the form, the processor's checkout page, the card; the
    checkout page's answer's redirect (where the processor sends the browser back)."""
    response = client.post(reverse("billing_subscribe"), {"plan": plan, **CONTACT, **contact})
    assert response.status_code == 302, response.content.decode()[:2000]
    paid = pay(response["Location"], number)
    assert paid.status_code == 303, paid.text[:2000]
    return str(paid.headers["location"])


@pytest.fixture
def subscribed(processor: Processor, user: User, owner_client: Any) -> BillingAccount:
    """The user on an active Pro subscription, as the processor's webhook set it."""
    subscribe(owner_client)
    return wait_for_status(user, "active")


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]
