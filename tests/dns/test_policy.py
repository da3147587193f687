"""The owner changes a domain's DMARC policy, report address and MTA-STS mode; DNS follows."""

from __future__ import annotations

import dataclasses

import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.dns.desired import MailDomain, build, mta_sts_id, mta_sts_policy
from mailpanel.dns.inputs import mail_domain
from mailpanel.domains.models import SendingDomain
from mailpanel.jobs.models import Job
from tests.dns.conftest import Fakes
from tests.dns.support import linked, make_domain, make_server, plan_and_apply

pytestmark = pytest.mark.django_db(transaction=True)


def policy_url(domain: SendingDomain) -> str:
    return reverse("domain_policy", args=[domain.pk])


def test_tightening_dmarc_then_applying_publishes_it(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    linked(user, "cloudflare", domain, queue, "example.test")
    assert plan_and_apply(domain, queue).state == "applied"

    response = owner_client.post(
        policy_url(domain),
        {
            "dmarc_policy": "reject",
            "report_address": "dmarc@example.test",
            "mta_sts_mode": "testing",
        },
        follow=True,
    )
    assert "Saved. Publish the change in DNS" in response.content.decode()
    domain.refresh_from_db()
    assert (domain.dmarc_policy, domain.dmarc_report_address) == ("reject", "dmarc@example.test")
    event = ActivityEvent.objects.filter(action="domain.policy_changed").get()
    assert "DMARC none → reject" in event.message
    assert not Job.objects.filter(kind="server.converge").exists()  # self-signed: no policy site

    second = plan_and_apply(domain, queue)
    [change] = [c for c in second.content["changes"] if c["kind"] == "dmarc"]
    assert change["action"] == "update"
    assert change["after"]["content"] == "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"


def test_enforce_needs_a_server_with_an_acme_certificate(user: User, owner_client: Client) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    response = owner_client.post(
        policy_url(domain),
        {"dmarc_policy": "none", "report_address": "", "mta_sts_mode": "enforce"},
    )
    assert "switch" in response.content.decode() and "to an ACME certificate first" in (
        response.content.decode()
    )
    domain.refresh_from_db()
    assert domain.mta_sts_mode == "testing"
    assert not ActivityEvent.objects.filter(action="domain.policy_changed").exists()


def test_enforcing_changes_the_policy_and_its_id_and_updates_the_server_first(
    user: User, owner_client: Client
) -> None:
    server = make_server(user)
    server.tls_mode = "acme"
    server.save()
    domain = make_domain(user, server, "news.example.test")
    before = build(mail_domain(domain), "example.test", [], ttl=300)
    owner_client.post(
        policy_url(domain),
        {"dmarc_policy": "none", "report_address": "", "mta_sts_mode": "enforce"},
    )
    domain.refresh_from_db()
    enforced = mta_sts_policy(server.mail_hostname, "enforce")
    assert "mode: enforce\r\n" in enforced
    unserved = build(mail_domain(domain), "example.test", [], ttl=300)
    assert not [w for w in unserved.wanted if w.record.name.startswith("_mta-sts.")]
    served = dataclasses.replace(mail_domain(domain), served_policy=enforced)
    after = build(served, "example.test", [], ttl=300)
    [txt] = [w.record.content for w in after.wanted if w.record.name.startswith("_mta-sts.")]
    assert txt == f"v=STSv1; id={mta_sts_id(enforced)}"
    assert txt not in [w.record.content for w in before.wanted]
    assert Job.objects.filter(kind="server.converge").count() == 1  # the policy file first


def test_another_users_domain_policy_is_a_404(
    user: User, other_client: Client, owner_client: Client
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    assert other_client.get(policy_url(domain)).status_code == 404
    data = {"dmarc_policy": "reject", "report_address": "", "mta_sts_mode": "testing"}
    assert other_client.post(policy_url(domain), data).status_code == 404
    domain.refresh_from_db()
    assert domain.dmarc_policy == "none"
    bad = owner_client.post(policy_url(domain), {**data, "dmarc_policy": "p=reject; x"})
    assert "Select a valid choice" in bad.content.decode()


@pytest.mark.parametrize(
    "bad",
    ['"x;p=none,mailto:y"@example.test', "a!10m@example.test", "a,b@example.test", "nobody"],
)
def test_a_report_address_that_would_break_the_record_is_refused(
    user: User, owner_client: Client, bad: str
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    data = {"dmarc_policy": "reject", "report_address": bad, "mta_sts_mode": "testing"}
    page = owner_client.post(policy_url(domain), data).content.decode()
    assert "Give a whole address" in page or "Before the @" in page
    domain.refresh_from_db()
    assert (domain.dmarc_policy, domain.dmarc_report_address) == ("none", "")


def test_reports_to_another_domain_say_what_that_domain_must_publish() -> None:
    elsewhere = MailDomain("news.example.test", "mail.example.test", ("192.0.2.1",),
                           report_address="dmarc@reports.test")  # fmt: skip
    notes = build(elsewhere, "example.test", [], ttl=300).notes
    assert any("news.example.test._report._dmarc.reports.test" in n for n in notes)
    parent = MailDomain("news.example.test", "mail.example.test", ("192.0.2.1",),
                        report_address="dmarc@example.test")  # fmt: skip
    assert not [n for n in build(parent, "example.test", [], ttl=300).notes if "_report" in n]
