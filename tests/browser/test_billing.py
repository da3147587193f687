"""A Free user meets the server limit, subscribes on the lab processor's hosted page with
the 4242 card, is on Pro once the signed webhook says so, adds the second server, cancels
in the portal, and at the period's end is back on Free limits with everything kept."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from lab.stripe_lab import StripeLab
from tests.browser.conftest import Panel, free_port, running_panel, sign_up_and_verify

pytestmark = pytest.mark.browser

EMAIL = "ada.billing@example.test"
PASSWORD = "a long and unusual passphrase 13"
SECRET = "whsec_" + secrets.token_hex(16)
PRO, BUSINESS = "price_lab_pro", "price_lab_business"


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StripeLab]:
    with StripeLab(tmp_path_factory.mktemp("stripe") / "requests.jsonl") as lab:
        lab.create_plan(PRO, 900, name="Pro")
        lab.create_plan(BUSINESS, 4900, name="Business")
        yield lab


@pytest.fixture(scope="module")
def billing_panel(
    tmp_path_factory: pytest.TempPathFactory, processor: StripeLab
) -> Iterator[Panel]:
    env = {
        "MAILPANEL_STRIPE_SECRET_KEY": processor.api_key,
        "MAILPANEL_STRIPE_WEBHOOK_SECRET": SECRET,
        "MAILPANEL_STRIPE_API_URL": processor.api_base,
        "MAILPANEL_STRIPE_PRICE_PRO": PRO,
        "MAILPANEL_STRIPE_PRICE_BUSINESS": BUSINESS,
        # The servers this test adds are loopback ports nothing listens on: no traffic leaves.
        "MAILPANEL_SERVER_NETWORKS_ALLOWED": "127.0.0.0/8",
    }
    with running_panel(tmp_path_factory.mktemp("billing-panel"), env) as panel:
        processor.register_webhook(panel.url + "/billing/stripe/webhook", SECRET)
        yield panel


def sdk(lab: StripeLab) -> stripe.StripeClient:
    session = requests.Session()
    session.trust_env = False
    return stripe.StripeClient(
        lab.api_key,
        base_addresses={"api": lab.api_base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(session=session),
    )


def add_server(page: Any, panel: Panel, name: str) -> None:
    page.goto(panel.url + "/servers/add/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Host", exact=True).fill("127.0.0.1")
    page.get_by_label("Port").fill(str(free_port()))
    page.get_by_label("Login").select_option(label="billing key")
    page.get_by_label("Mail hostname").fill(f"{name}.example.test")
    page.get_by_role("button", name="Add and check its host key").click()


def delivered(lab: StripeLab, kind: str, tries: int = 100) -> list[int | None]:
    """The panel's answers to the first event of ``kind``, once it was delivered."""
    for _ in range(tries):
        found = [e for e in lab.events() if e["type"] == kind and e["deliveries"]]
        if found:
            return [d["status"] for d in found[0]["deliveries"]]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} delivered")


def plan_shown(page: Any, panel: Panel, plan: str, tries: int = 50) -> None:
    """Reload the Billing page until it shows ``plan`` (the webhook may take a moment)."""
    for _ in range(tries):
        page.goto(panel.url + "/billing/")
        if page.locator(f'[data-plan="{plan}"]').count():
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"the Billing page never showed the {plan} plan")


def test_subscribe_pay_add_cancel_and_fall_back_to_free(
    browser: Any, billing_panel: Panel, processor: StripeLab
) -> None:
    panel = billing_panel
    page = browser.new_page()
    sign_up_and_verify(page, panel, EMAIL, PASSWORD)
    page.goto(panel.url + "/credentials/generate-ssh-key/")
    page.get_by_label("Name", exact=True).fill("billing key")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/credentials/*/")

    add_server(page, panel, "mx-one")
    page.wait_for_url("**/host-key/")
    add_server(page, panel, "mx-two")
    refusal = page.locator("[data-plan-limit]")
    assert "Your Free plan allows 1 server, and you have 1" in refusal.inner_text()
    page.get_by_role("link", name="See the plans").click()

    page.wait_for_url("**/billing/")
    assert page.locator('[data-plan="free"]').count() == 1
    sources = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert all(src.startswith(panel.url + "/static/") for src in sources), sources  # ours only
    page.get_by_label("Plan", exact=True).select_option("pro")
    page.get_by_label("Name on invoices").fill("Ada Lovelace")
    page.get_by_label("Country").fill("GB")
    page.get_by_role("button", name="Continue to payment").click()

    page.wait_for_url(f"{processor.api_base}/pay/**")  # the processor's own page
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2031")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Subscribe").click()

    page.wait_for_url(re.compile(re.escape(panel.url) + r"/billing/\?checkout=done.*"))
    assert "confirms the payment to the panel directly" in page.content()
    plan_shown(page, panel, "pro")
    assert "Card: Visa ending 4242" in page.content()
    assert delivered(processor, "checkout.session.completed") == [200]  # signed, applied

    add_server(page, panel, "mx-two")
    page.wait_for_url("**/host-key/")

    page.goto(panel.url + "/billing/")
    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(f"{processor.api_base}/portal/**")
    page.get_by_role("button", name="Cancel at period end").click()
    page.get_by_role("link", name="Return to the panel").click()
    page.wait_for_url(f"{panel.url}/billing/")
    for _ in range(50):
        if "then the Free plan" in page.content():
            break
        page.wait_for_timeout(200)
        page.reload()
    assert "then the Free plan's limits apply, and nothing is deleted" in page.content()

    [subscription] = sdk(processor).v1.subscriptions.list().data
    assert processor.end_period(subscription.id)["ended"] is True  # the fake's clock

    plan_shown(page, panel, "free")
    add_server(page, panel, "mx-three")
    refusal = page.locator("[data-plan-limit]")
    assert "Your Free plan allows 1 server, and you have 2" in refusal.inner_text()
    page.goto(panel.url + "/servers/")
    assert page.get_by_role("link", name="mx-one", exact=True).count() == 1
    assert page.get_by_role("link", name="mx-two", exact=True).count() == 1
    page.close()
