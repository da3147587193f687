"""A person publishes a domain's mail records at Cloudflare from the browser."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.smtp_store import wait_for_message
from tests.browser.conftest import (
    Panel,
    add_provisioned_server,
    running_panel,
    sign_up_and_verify,
    wait_for_job,
)
from tests.servers.conftest import RECEIVER_DOMAIN, receiver_zones

pytestmark = [pytest.mark.browser, pytest.mark.lab]

PASSWORD = "a long and unusual passphrase 9"
DOMAIN = "shop.test"  # a zone of the lab's Cloudflare account


@pytest.fixture(scope="module")
def dns_panel(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    env = {
        "MAILPANEL_DNS_RESOLVERS": lab.dns_address,
        "MAILPANEL_DNS_RESOLVER_PORT": "53",
        "MAILPANEL_CLOUDFLARE_API_URL": lab.peers.cloudflare_url,
    }
    with running_panel(tmp_path_factory.mktemp("panel-dns"), env) as panel:
        yield panel


def test_plan_apply_and_verify_mail_records_then_mail_passes_everything(
    lab: Any, dns_panel: Panel, browser: Any, artifacts: Path
) -> None:
    receiver_zones(lab).close()
    page = browser.new_page()
    page.set_default_timeout(30_000)
    sign_up_and_verify(page, dns_panel, "dns@example.test", PASSWORD)
    server_url = add_provisioned_server(page, dns_panel, lab.hosts[1], "mail2")

    page.goto(dns_panel.url + "/credentials/add/?kind=cloudflare")
    page.get_by_label("Name", exact=True).fill("Cloudflare lab")
    page.get_by_label("API token").fill(lab.peers.cloudflare_token)
    page.get_by_role("button", name="Store encrypted").click()
    page.goto(dns_panel.url + "/dns/accounts/add/")
    page.get_by_label("Credential").select_option(label="Cloudflare lab")
    page.get_by_label("Label").fill("lab account")
    page.get_by_role("button", name="Connect and test").click()
    page.wait_for_selector("[data-job-state]:has-text('Succeeded')", timeout=60_000)

    page.goto(dns_panel.url + "/domains/add/")
    page.get_by_label("Domain", exact=True).fill(DOMAIN)
    page.get_by_label("Server", exact=True).select_option(label="mail2")
    page.get_by_label("DMARC policy").select_option("reject")
    page.get_by_role("button", name="Add domain").click()
    page.wait_for_url(re.compile(r".*/domains/[0-9a-f-]{36}/$"))
    page.get_by_role("link", name="Publish them at your DNS provider").click()
    page.get_by_role("button", name="Find the zone automatically").click()
    assert "shop.test" in page.locator("[data-zone]").inner_text()
    page.get_by_role("button", name="Plan").click()
    page.wait_for_selector("[data-plan-state='planned']", timeout=60_000)
    assert page.locator("table[data-plan] tr[data-action]").count() >= 4
    page.get_by_role("button", name="Apply these changes").click()
    page.wait_for_selector("table[data-results]", timeout=120_000)
    answered = page.locator("table[data-results] tbody tr")
    assert answered.count() >= 4
    assert page.locator("table[data-results] .state-failed").count() == 0
    page.screenshot(path=str(artifacts / "dns-applied.png"), full_page=True)

    recipient = f"reader-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    page.goto(server_url)
    page.get_by_label("Sender").fill(f"news@{DOMAIN}")
    page.get_by_label("Recipient").fill(recipient)
    page.get_by_role("button", name="Send").click()
    assert wait_for_job(page) == "Succeeded"
    message = wait_for_message(lab.mail_db, lambda m: recipient in m["rcpt_to"], timeout=30)
    assert (message["spf"], message["dkim"], message["dmarc"]) == ("pass", "pass", "pass"), message[
        "auth_results"
    ]
    page.close()
