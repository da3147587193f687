"""A person provisions a lab server from the browser and sends mail through it."""

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
from tests.servers.conftest import RECEIVER_DOMAIN, publish_dkim, receiver_zones

pytestmark = [pytest.mark.browser, pytest.mark.lab]

PASSWORD = "a long and unusual passphrase 7"
DOMAIN = "browser-sender.test"


@pytest.fixture(scope="module")
def lab_panel(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    env = {"MAILPANEL_DNS_RESOLVERS": lab.dns_address, "MAILPANEL_DNS_RESOLVER_PORT": "53"}
    with running_panel(tmp_path_factory.mktemp("panel-lab"), env) as panel:
        yield panel


def test_provision_a_server_and_send_a_signed_message_from_the_ui(
    lab: Any, lab_panel: Panel, browser: Any, artifacts: Path
) -> None:
    zones = receiver_zones(lab)
    host = lab.hosts[0]
    page = browser.new_page()
    page.set_default_timeout(30_000)
    sign_up_and_verify(page, lab_panel, "ops@example.test", PASSWORD)

    server_url = add_provisioned_server(page, lab_panel, host, "mail1")
    page.screenshot(path=str(artifacts / "converge-job.png"), full_page=True)

    page.goto(lab_panel.url + "/domains/add/")
    page.get_by_label("Domain", exact=True).fill(DOMAIN)
    page.get_by_label("Server", exact=True).select_option(label="mail1")
    page.get_by_role("button", name="Add domain").click()
    page.wait_for_url(re.compile(r".*/domains/[0-9a-f-]{36}/$"))
    # Prove control as the page says: publish its TXT record, then press Verify.
    claim = page.locator("[data-claim-name]").inner_text()
    publish_dkim(zones, DOMAIN, claim, page.locator("[data-claim-value]").inner_text())
    page.get_by_role("button", name="Verify", exact=True).click()
    page.locator("[data-verified='true']").wait_for()
    dkim = page.locator("tr", has_text="DKIM").locator("code")
    record_name, record_value = dkim.nth(0).inner_text(), dkim.nth(1).inner_text()
    publish_dkim(zones, DOMAIN, record_name, record_value)
    page.get_by_label("Mailbox name").fill("news")
    page.get_by_role("button", name="Add SMTP user").click()
    assert page.locator("[data-smtp-password]").inner_text()
    page.get_by_role("link", name="follow the job").click()
    assert wait_for_job(page) == "Succeeded"

    recipient = f"reader-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    page.goto(server_url)
    page.get_by_label("Sender").fill(f"news@{DOMAIN}")
    page.get_by_label("Recipient").fill(recipient)
    page.get_by_role("button", name="Send").click()
    assert wait_for_job(page) == "Succeeded"
    message = wait_for_message(lab.mail_db, lambda m: recipient in m["rcpt_to"], timeout=30)
    assert message["dkim"] == "pass" and message["dkim_domain"] == DOMAIN

    page.goto(lab_panel.url + "/servers/")
    page.get_by_label("Select mail1").check()
    page.get_by_label("With the selected servers:").select_option("health")
    page.get_by_role("button", name="Run on all selected").click()
    page.wait_for_selector("#fleet-table[data-done='true']", timeout=60_000)
    assert page.locator("tr[data-state='ok']").count() == 1
    page.screenshot(path=str(artifacts / "fleet-run.png"), full_page=True)
    page.close()
