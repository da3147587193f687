"""Bad input: each a clear error or note, and nothing written at the provider."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.dns import actions
from mailpanel.dns.models import DnsAccount, PlanState
from mailpanel.domains.models import SendingDomain
from mailpanel.jobs.models import JobState
from tests.dns.conftest import CF_TOKEN, Fakes
from tests.dns.support import (
    connect,
    job_text,
    linked,
    make_domain,
    make_server,
    plan_and_apply,
    writes,
    zone_rows,
)
from tests.helpers import drain

BAD_NAMES = {
    "news.example.test; rm -rf /": "may not contain",
    "$(reboot).example.test": "may not contain",
    "news example.test": "may not contain",
    "a" * 64 + ".example.test": "longer than 63",
    "news..example.test": "invalid",
    "-news.example.test": "may not start with",
    "news.example.test\nMX 0 evil.test": "may not contain",
}


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "words"), BAD_NAMES.items())
def test_bad_domain_names_in_the_guided_setup_are_refused_clearly(
    user: User, owner_client: Client, name: str, words: str
) -> None:
    server = make_server(user, converged=True)

    response = owner_client.post(
        reverse("dns_setup_server", args=[server.pk]),
        {"step": "domain", "name": name, "dmarc_policy": "none"},
    )

    assert response.status_code == 400
    assert words in response.content.decode()
    assert not SendingDomain.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_idn_domain_is_stored_as_a_labels_and_shown_as_u_labels(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    server = make_server(user)
    domain = make_domain(user, server, "xn--bcher-kva.example.test")
    linked(user, "cloudflare", domain, queue, "example.test")

    plan = plan_and_apply(domain, queue)

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    names = {r["name"] for r in zone_rows(lab_like.store, "cloudflare", "example.test")}
    assert "_dmarc.xn--bcher-kva.example.test" in names
    page = owner_client.get(reverse("dns_plan", args=[plan.pk])).content.decode()
    assert "_dmarc.bücher.example.test" in page and "bücher.example.test" in page


@pytest.mark.django_db(transaction=True)
def test_a_zone_not_in_the_account_is_refused_before_any_call(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    account = connect(user, "cloudflare", queue)
    before = len(lab_like.cloudflare.requests)

    with pytest.raises(actions.DnsActionRefused, match="is not a zone of"):
        actions.link_zone(domain, account, "elsewhere.test")  # another customer's zone
    response = owner_client.post(
        reverse("dns_domain_link", args=[domain.pk]),
        {"zone": f"{account.pk}:elsewhere.test"},
        follow=True,
    )
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(actions.DnsActionRefused, match="not inside the zone"):
        actions.link_zone(domain, account, "shop.test")
    assert len(lab_like.cloudflare.requests) == before


@pytest.mark.django_db(transaction=True)
def test_a_zone_gone_from_the_account_fails_the_plan_in_the_providers_words(
    user: User, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    linked(user, "cloudflare", domain, queue, "example.test")
    [zone] = [z for z in lab_like.store.zones("cloudflare") if z["name"] == "example.test"]
    lab_like.store.delete_zone(zone["id"])

    plan = actions.start_plan(domain)
    drain(queue)
    plan.refresh_from_db()

    assert plan.state == PlanState.FAILED
    assert plan.plan_job is not None and "Cloudflare said: Could not route" in plan.plan_job.error
    assert "plan again: the zone or record is gone" in plan.plan_job.error
    assert writes(lab_like.cloudflare) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "zone", "ttl", "stored", "note"),
    [
        (
            "cloudflare",
            "example.test",
            10,
            60,
            "Cloudflare needs a TTL of at least 60 s: 10 s raised",
        ),
        ("namecom", "namecom.test", 999999, 86400, "Name.com allows a TTL of at most 86400 s"),
        (
            "openprovider",
            "openprovider.test",
            300,
            600,
            "OpenProvider needs a TTL of at least 600 s",
        ),
    ],
)
def test_ttls_outside_a_providers_range_are_adjusted_with_a_note(
    user: User,
    lab_like: Fakes,
    queue: Huey,
    kind: str,
    zone: str,
    ttl: int,
    stored: int,
    note: str,
) -> None:
    domain = make_domain(user, make_server(user, mail_hostname=f"mail.{zone}"), f"news.{zone}")
    linked(user, kind, domain, queue, zone)

    plan = plan_and_apply(domain, queue, ttl=ttl)

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    assert [n for n in plan.content["notes"] if n.startswith(note)]
    assert {r["ttl"] for r in zone_rows(lab_like.store, kind, zone)} == {stored}


@pytest.mark.django_db(transaction=True)
def test_a_revoked_credential_fails_clearly_and_writes_nothing(
    user: User, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    linked(user, "cloudflare", domain, queue, "example.test")
    lab_like.cloudflare._tokens.pop(CF_TOKEN)  # revoked in the Cloudflare dashboard

    plan = actions.start_plan(domain)
    drain(queue)
    plan.refresh_from_db()
    test = actions.test_account(DnsAccount.objects.get(owner=user))
    drain(queue)
    test.refresh_from_db()

    assert plan.state == PlanState.FAILED and plan.plan_job is not None
    assert plan.plan_job.error == (
        "Cloudflare said: Authentication error. What to do: the API token was revoked or lacks "
        "DNS edit permission for this zone."
    )
    assert test.state == JobState.FAILED and "Invalid API Token" in test.error
    assert writes(lab_like.cloudflare) == []
    assert CF_TOKEN not in job_text(plan.plan_job) + job_text(test)


@pytest.mark.django_db
def test_bad_plan_input_is_refused(user: User, owner_client: Client, settings: Any) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    response = owner_client.post(
        reverse("dns_plan_start", args=[domain.pk]), {"ttl": "0"}, follow=True
    )
    assert "greater than or equal to 1" in response.content.decode()
    response = owner_client.post(
        reverse("dns_plan_start", args=[domain.pk]), {"ttl": "300"}, follow=True
    )
    assert "Link this domain to a zone" in response.content.decode()
