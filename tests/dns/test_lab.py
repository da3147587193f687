"""End to end in the lab: a provisioned host, a domain in a provider's lab zone, plan, apply,
the lab DNS answers, and mail from the host passes SPF, DKIM and DMARC at the lab receiver."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
from huey.api import Huey

from lab.smtp_store import wait_for_message
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.dns import actions
from mailpanel.dns.desired import mta_sts_id, mta_sts_policy
from mailpanel.dns.models import DnsPlan, PlanState
from mailpanel.domains.actions import add_domain as add_sending_domain
from mailpanel.domains.actions import add_smtp_user, generate_password
from mailpanel.domains.models import DkimKey, SendingDomain
from mailpanel.jobs.models import Job, JobState
from mailpanel.jobs.runner import run_job
from mailpanel.vault.actions import create_credential
from tests.dns.support import job_text
from tests.helpers import drain
from tests.servers.conftest import (
    RECEIVER_DOMAIN,
    acme_lab,
    lab_dns,
    log_text,
    pinned_server,
    run,
    zones,
)
from tests.servers.test_acme import pebble_root, served_policy
from tests.servers.test_mail_stack import submit

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]
__all__ = ["acme_lab", "lab_dns", "zones"]  # fixtures used here

LAB_ZONES = {
    "cloudflare": "example.test",
    "namecom": "namecom.test",
    "openprovider": "openprovider.test",
}


def lab_credentials(peers: Any, kind: str) -> dict[str, str]:
    return {
        "cloudflare": {"token": peers.cloudflare_token},
        "namecom": {"username": peers.namecom_username, "token": peers.namecom_token},
        "openprovider": {
            "username": peers.openprovider_username,
            "password": peers.openprovider_password,
        },
    }[kind]


@pytest.fixture
def panel_on_lab(lab_dns: Any, settings: Any) -> Any:
    peers = lab_dns.peers
    settings.DNS_API_URLS = {k: getattr(peers, f"{k}_url") for k in LAB_ZONES}
    settings.DNS_VERIFY_TIMEOUT_SECONDS = 30
    settings.DNS_VERIFY_MAX_INTERVAL_SECONDS = 1
    settings.DNS_RETRY_AFTER_CAP_SECONDS = 2
    return lab_dns


def lookup(lab: Any, name: str, rtype: str) -> list[str]:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [lab.dns_address]
    try:
        answer = res.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    if rtype == "TXT":
        return [b"".join(r.strings).decode() for r in answer]
    return [r.to_text() for r in answer]


def published_domain(
    user: User, lab: Any, queue: Huey, kind: str, **server_fields: Any
) -> tuple[SendingDomain, str]:
    """A converged lab host sending for a new domain in the provider's lab zone, published."""
    server = pinned_server(user, lab.hosts[0], **server_fields)
    converged = run(server, "server.converge", queue)
    assert converged.state == JobState.SUCCEEDED, log_text(converged) + converged.error
    zone = LAB_ZONES[kind]
    domain, _ = add_sending_domain(user, server, f"e2e-{secrets.token_hex(3)}.{zone}")
    password = generate_password()
    add_smtp_user(domain, "news", password)
    drain(queue)
    credential = create_credential(user, kind, f"lab {kind}", lab_credentials(lab.peers, kind))
    account, _ = actions.connect_account(user, credential, f"lab {kind}")
    drain(queue)
    account.refresh_from_db()
    assert account.zone_named(zone), job_text(Job.objects.filter(kind="dns.account_test").first())
    actions.link_automatically(domain)
    plan = actions.start_plan(domain, 300)
    drain(queue)
    plan.refresh_from_db()
    assert plan.state == PlanState.PLANNED, job_text(plan.plan_job)
    actions.start_apply(plan)
    drain(queue)
    plan.refresh_from_db()
    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    return domain, password


def assert_passes(lab: Any, domain: SendingDomain, password: str, selector: str) -> None:
    recipient = f"reader-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    submit(domain.server.host, f"news@{domain.name}", password, recipient)
    message = wait_for_message(lab.mail_db, lambda m: recipient in m["rcpt_to"], timeout=30)
    verdicts = (message["spf"], message["dkim"], message["dmarc"])
    assert verdicts == ("pass", "pass", "pass"), message["auth_results"]
    assert message["dkim_domain"] == domain.name and message["dkim_selector"] == selector


@pytest.mark.parametrize("kind", list(LAB_ZONES))
def test_plan_apply_lab_dns_answers_and_mail_passes_spf_dkim_dmarc(
    user: User, panel_on_lab: Any, zones: ZoneStore, queue: Huey, kind: str
) -> None:
    lab = panel_on_lab
    domain, password = published_domain(user, lab, queue, kind)

    plan = DnsPlan.objects.filter(domain=domain).first()
    assert plan is not None and len(plan.result) == 4 and all(r["visible"] for r in plan.result)
    key = domain.active_key
    assert key is not None
    host_ip = domain.server.host
    assert lookup(lab, domain.name, "TXT") == [f"v=spf1 ip4:{host_ip} -all"]
    assert lookup(lab, domain.name, "MX") == [f"10 {domain.server.mail_hostname}."]
    assert lookup(lab, key.record_name, "TXT") == [key.record_value]
    assert lookup(lab, f"_dmarc.{domain.name}", "TXT") == ["v=DMARC1; p=none"]
    assert lookup(lab, f"_smtp._tls.{domain.name}", "TXT") == []  # no report address set
    assert lookup(lab, f"_mta-sts.{domain.name}", "TXT") == []  # self-signed: no policy
    assert_passes(lab, domain, password, key.selector)


def test_dkim_rotation_publishes_switches_and_retires_the_old_selector(
    user: User, panel_on_lab: Any, zones: ZoneStore, queue: Huey, settings: Any
) -> None:
    lab = panel_on_lab
    domain, password = published_domain(user, lab, queue, "cloudflare")
    old = domain.active_key
    assert old is not None

    settings.DKIM_ROTATION_WAIT_SECONDS = 3600
    job = actions.start_rotation(domain)
    drain(queue)
    job.refresh_from_db()

    assert job.state == JobState.SUCCEEDED, log_text(job) + job.error
    new = domain.active_key
    assert new is not None and new.selector != old.selector
    old.refresh_from_db()
    assert not old.active and old.retired_at is None  # kept: messages may be on their way
    assert lookup(lab, new.record_name, "TXT") == [new.record_value]
    assert lookup(lab, old.record_name, "TXT") == [old.record_value]
    assert_passes(lab, domain, password, new.selector)

    retire = Job.objects.get(kind="dns.dkim_retire", owner=user)
    assert retire.state == JobState.QUEUED and retire.params["key_ids"] == [str(old.pk)]
    run_job(str(retire.pk))  # what the scheduled task does once the wait is over
    retire.refresh_from_db()
    assert retire.state == JobState.SUCCEEDED, log_text(retire) + retire.error
    assert lookup(lab, old.record_name, "TXT") == []
    assert lookup(lab, new.record_name, "TXT") == [new.record_value]
    assert DkimKey.objects.get(pk=old.pk).retired_at is not None

    settings.DKIM_ROTATION_WAIT_SECONDS = 0  # rotating again retires at once
    again = actions.start_rotation(domain)
    drain(queue)
    again.refresh_from_db()
    assert again.state == JobState.SUCCEEDED, log_text(again) + again.error
    newest = domain.active_key
    assert newest is not None and newest.selector not in (old.selector, new.selector)
    assert lookup(lab, new.record_name, "TXT") == []
    assert_passes(lab, domain, password, newest.selector)


def test_on_an_acme_server_the_apply_points_mta_sts_there_and_the_policy_is_served(
    user: User,
    panel_on_lab: Any,
    acme_lab: Any,
    zones: ZoneStore,
    queue: Huey,
    settings: Any,
    tmp_path: Path,
) -> None:
    lab = panel_on_lab
    domain, _ = published_domain(user, lab, queue, "cloudflare", tls_mode="acme")
    site = f"mta-sts.{domain.name}"
    assert lookup(lab, site, "A") == [domain.server.host]

    # The apply started a converge of the server, which the queue ran: it got the certificate.
    plan = DnsPlan.objects.filter(domain=domain).first()
    assert plan is not None and "provisioning it (job" in job_text(plan.apply_job)
    converge = Job.objects.filter(kind="server.converge").order_by("-created_at").first()
    assert converge is not None and converge.state == JobState.SUCCEEDED, job_text(converge)
    assert f"ACME certificate for {site}" in log_text(converge)

    _cert, response = served_policy(domain.server.host, site, pebble_root(lab))
    policy = mta_sts_policy(domain.server.mail_hostname)
    assert response.partition("\r\n\r\n")[2] == policy
    assert lookup(lab, f"_mta-sts.{domain.name}", "TXT") == [f"v=STSv1; id={mta_sts_id(policy)}"]

    # Enforce: announced only once the server serves it. Changed behind the panel's back
    # (no converge), the plan leaves the record; after the converge it moves.
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble_root(lab))
    settings.MTA_STS_CA_BUNDLE = str(root)
    SendingDomain.objects.filter(pk=domain.pk).update(mta_sts_mode="enforce")
    early = actions.start_plan(SendingDomain.objects.get(pk=domain.pk), 300)
    drain(queue)
    early.refresh_from_db()
    assert "enforce is announced once the server serves it" in " ".join(early.content["notes"])
    assert not [c for c in early.content["changes"] if c["kind"] == "mta-sts"]

    converged = run(domain.server, "server.converge", queue)
    assert converged.state == JobState.SUCCEEDED, log_text(converged) + converged.error
    enforce = mta_sts_policy(domain.server.mail_hostname, "enforce")
    assert served_policy(domain.server.host, site, pebble_root(lab))[1].endswith(enforce)
    plan = actions.start_plan(SendingDomain.objects.get(pk=domain.pk), 300)
    drain(queue)
    plan.refresh_from_db()
    [change] = [c for c in plan.content["changes"] if c["kind"] == "mta-sts"]
    assert change["after"]["content"] == f"v=STSv1; id={mta_sts_id(enforce)}"
