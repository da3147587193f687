"""A person follows the guided setup from a bare server to mail that passes SPF, DKIM and DMARC.

Name.com and OpenProvider here; Cloudflare's records are published in test_dns_ui.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.smtp_store import wait_for_message
from tests.browser.conftest import Panel, running_panel, sign_up_and_verify
from tests.servers.conftest import RECEIVER_DOMAIN, receiver_zones

pytestmark = [pytest.mark.browser, pytest.mark.lab]

PASSWORD = "a long and unusual passphrase 11"
ACCOUNT = "lab account"  # the DNS account's label
STEPS = ["server", "host_key", "provision", "domain", "zone", "plan", "apply", "verify", "test"]


@dataclass(frozen=True)
class Provider:
    kind: str  # the credential kind, as in /credentials/add/?kind=
    zone: str  # a zone of the lab's account at this provider
    host: int  # which lab host becomes the mail server
    secrets: Callable[[Any], dict[str, str]]  # field label -> value, from ``lab.peers``


PROVIDERS = [
    Provider(
        "namecom",
        "namecom.test",
        0,
        lambda peers: {"Username": peers.namecom_username, "API token": peers.namecom_token},
    ),
    Provider(
        "openprovider",
        "openprovider.test",
        1,
        lambda peers: {
            "Username": peers.openprovider_username,
            "Password": peers.openprovider_password,
        },
    ),
]


@pytest.fixture(scope="module")
def setup_panel(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    env = {
        "MAILPANEL_DNS_RESOLVERS": lab.dns_address,
        "MAILPANEL_DNS_RESOLVER_PORT": "53",
        "MAILPANEL_NAMECOM_API_URL": lab.peers.namecom_url,
        "MAILPANEL_OPENPROVIDER_API_URL": lab.peers.openprovider_url,
    }
    with running_panel(tmp_path_factory.mktemp("panel-setup"), env) as panel:
        yield panel


def connect_dns_account(page: Any, panel: Panel, provider: Provider, peers: Any) -> None:
    """Store the provider's credential in the vault, connect it as a DNS account, test it."""
    page.goto(f"{panel.url}/credentials/add/?kind={provider.kind}")
    page.get_by_label("Name", exact=True).fill(f"{provider.kind} lab")
    for label, value in provider.secrets(peers).items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Store encrypted").click()
    page.wait_for_url("**/credentials/*/")
    page.goto(panel.url + "/dns/accounts/add/")
    page.get_by_label("Credential").select_option(label=f"{provider.kind} lab")
    page.get_by_label("Label").fill(ACCOUNT)
    page.get_by_role("button", name="Connect and test").click()
    page.wait_for_selector("[data-job-state]:has-text('Succeeded')", timeout=60_000)


def store_ssh_key(page: Any, panel: Panel, host: Any, name: str) -> None:
    page.goto(panel.url + "/credentials/add/?kind=ssh_key")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Private key").fill(host.root_key_path.read_text())
    page.get_by_role("button", name="Store encrypted").click()
    page.wait_for_url("**/credentials/*/")


def step(page: Any, key: str, done: str = "") -> Any:
    """The step in the setup page's list; with ``done="true"`` only once the page marks it done."""
    marked = f"[data-done='{done}']" if done else ""
    return page.locator(f"[data-steps] [data-step='{key}']{marked}")


def follow_job(page: Any, key: str, until: Any, timeout: float = 300_000) -> None:
    """Watch the live log of the current step's job until ``until`` shows; fail if the job fails.

    When the job ends the page reloads itself, showing what the job made. A job that ended
    before the page was first shown has no live log left to watch: ``until`` is there already.
    """
    live_log = page.locator(f"[data-current='{key}'] section.job [data-job-log] li")
    live_log.or_(until).first.wait_for()
    failed = page.locator("section.job[data-finished='true'] [data-job-state].state-failed")
    until.or_(failed).first.wait_for(timeout=timeout)
    assert until.count() > 0, page.locator("[data-job-error]").all_inner_texts()


def add_and_provision_server(page: Any, panel: Panel, host: Any, name: str) -> str:
    """From the guided setup's start page to a provisioned server; returns the setup page URL."""
    page.goto(panel.url + "/")
    page.get_by_role("link", name="Start the guided setup").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Host", exact=True).fill(host.address)
    page.get_by_label("Login").select_option(label=f"{name} key")
    page.get_by_label("Mail hostname").fill(f"{host.name}.lab")
    page.get_by_role("button", name="Add the server").click()
    page.wait_for_url(re.compile(r".*/dns/setup/[0-9a-f-]{36}/$"))
    setup_url = str(page.url)

    assert page.locator("[data-fingerprint]").inner_text() == host.host_key_fingerprint
    page.get_by_role("button", name="The key matches: pin it").click()
    step(page, "host_key", done="true").wait_for()
    page.get_by_role("button", name="Provision", exact=True).click()
    follow_job(page, "provision", until=step(page, "provision", done="true"))
    return setup_url


def resume_from_the_start_page(page: Any, panel: Panel, server_name: str, setup_url: str) -> None:
    """Leave the setup, come back through its start page, land on the first step not done."""
    page.goto(panel.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="DNS").click()
    page.get_by_role("link", name="Guided setup: server to verified mail").click()
    server_link = page.get_by_role("link", name=server_name, exact=True)
    started = page.get_by_role("listitem").filter(has=server_link)
    assert "next: Pick the DNS zone" in started.inner_text()
    server_link.click()
    page.wait_for_url(setup_url)
    assert page.locator("[data-current]").get_attribute("data-current") == "zone"
    assert page.get_by_role("heading", name="Pick the DNS zone").is_visible()
    done = [key for key in STEPS if step(page, key).get_attribute("data-done") == "true"]
    assert done == ["server", "host_key", "provision", "domain"]


def review_and_apply_the_plan(page: Any) -> None:
    page.get_by_role("button", name="Plan the records").click()
    apply = page.get_by_role("button", name="Apply these changes")
    follow_job(page, "plan", until=apply, timeout=120_000)
    # The zone may hold records of an earlier run; the new account's DKIM key is always new.
    assert page.locator("table[data-plan] tr[data-action]", has_text="DKIM").count() >= 1
    apply.click()
    follow_job(page, "apply", until=step(page, "apply", done="true"), timeout=180_000)


@pytest.mark.parametrize("provider", PROVIDERS, ids=[p.kind for p in PROVIDERS])
def test_the_guided_setup_publishes_the_records_and_a_test_message_passes_everything(
    provider: Provider, lab: Any, setup_panel: Panel, browser: Any, artifacts: Path
) -> None:
    receiver_zones(lab).close()
    host = lab.hosts[provider.host]
    server_name = f"{provider.kind}-mail"
    page = browser.new_page()
    page.set_default_timeout(30_000)
    sign_up_and_verify(page, setup_panel, f"setup-{provider.kind}@example.test", PASSWORD)
    connect_dns_account(page, setup_panel, provider, lab.peers)
    store_ssh_key(page, setup_panel, host, f"{server_name} key")

    setup_url = add_and_provision_server(page, setup_panel, host, server_name)
    page.get_by_label("Domain", exact=True).fill(provider.zone)
    page.get_by_label("DMARC policy").select_option("reject")
    page.get_by_role("button", name="Add the domain").click()
    step(page, "domain", done="true").wait_for()
    resume_from_the_start_page(page, setup_panel, server_name, setup_url)

    page.get_by_label("Zone").select_option(label=f"{provider.zone} ({ACCOUNT})")
    page.get_by_role("button", name="Publish in this zone").click()
    step(page, "zone", done="true").wait_for()
    review_and_apply_the_plan(page)
    answered = page.locator("table[data-results] tbody tr")
    n = answered.count()
    assert n >= 4 and f"{n}/{n} records answered" in step(page, "verify", done="true").inner_text()
    assert page.locator("table[data-results] .state-succeeded").count() == n
    assert page.locator("table[data-results] .state-failed").count() == 0

    recipient = f"setup-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    page.get_by_label("Recipient").fill(recipient)
    page.get_by_role("button", name="Send a test message").click()
    follow_job(page, "test", until=page.locator("[data-setup-done]"), timeout=120_000)
    assert [step(page, key).get_attribute("data-done") for key in STEPS] == ["true"] * len(STEPS)
    page.screenshot(path=str(artifacts / f"guided-setup-{provider.kind}.png"), full_page=True)

    message = wait_for_message(lab.mail_db, lambda m: recipient in m["rcpt_to"], timeout=30)
    assert (message["spf"], message["dkim"], message["dmarc"]) == ("pass", "pass", "pass"), message[
        "auth_results"
    ]
    page.close()
