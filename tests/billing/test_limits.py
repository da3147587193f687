"""Plans limit what an owner may add, in the action functions (a page cannot get round
them); past due keeps the plan for the grace period, then nothing new until paid; canceled
falls back to Free; billing off (self-hosted) has no limits at all. Nothing is ever
deleted or touched by a limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.plans import PlanLimitReached, allowance
from mailpanel.domains.actions import add_domain
from mailpanel.domains.models import SendingDomain
from mailpanel.servers.actions import add_server
from mailpanel.servers.fleet import start_fleet_run
from mailpanel.servers.models import FleetRun, Server
from mailpanel.vault.actions import generate_ssh_key
from tests.billing.conftest import billing_on

pytestmark = pytest.mark.django_db


def server_fields(owner: User, name: str) -> dict[str, Any]:
    key = generate_ssh_key(owner, f"key {name}")
    return {"name": name, "host": "192.0.2.20", "port": 22, "username": "root",
            "credential": key, "mail_hostname": f"{name}.example.test"}  # fmt: skip


def form(owner: User, name: str) -> dict[str, Any]:
    fields = server_fields(owner, name)
    return {**fields, "credential": fields["credential"].pk, "tls_mode": "self_signed"}


def on_plan(owner: User, plan: str, status: str, **fields: Any) -> BillingAccount:
    account, _ = BillingAccount.objects.update_or_create(
        owner=owner,
        defaults={
            "name": "B",
            "email": owner.email,
            "country": "DE",
            "plan": plan,
            "status": status,
            "subscription_id": "sub_1",
            "customer_id": "cus_1",
            **fields,
        },
    )
    return account


@pytest.fixture
def billing(settings: Any) -> None:
    billing_on(settings)  # the discard port: a limit never asks the processor


def test_billing_off_has_no_limits_and_the_account_page_says_so(
    user: User, owner_client: Client
) -> None:
    for n in range(3):
        add_server(user, **server_fields(user, f"mx{n}"))
    assert allowance(user).plan is None
    assert b"data-plan-room" not in owner_client.get(reverse("server_add")).content
    page = owner_client.get(reverse("account_profile"))
    assert b"data-billing-off" in page.content and b"no plans and no limits" in page.content


def test_free_allows_one_server_and_the_second_is_refused_with_the_way_up(
    billing: None, user: User, owner_client: Client
) -> None:
    page = owner_client.get(reverse("server_add")).content.decode()
    assert "Your Free plan allows 1 server; you have 0." in page and "See the plans" not in page
    first = owner_client.post(reverse("server_add"), form(user, "mx1"))
    assert first.status_code == 302
    page = owner_client.get(reverse("server_add")).content.decode()
    assert "allows 1 server; you have 1." in page and "See the plans" in page

    second = owner_client.post(reverse("server_add"), form(user, "mx2"))

    assert second.status_code == 403
    text = second.content.decode()
    assert "Your Free plan allows 1 server, and you have 1" in text
    assert f'href="{reverse("billing")}"' in text and "Nothing was changed" in text
    assert list(Server.objects.filter(owner=user).values_list("name", flat=True)) == ["mx1"]
    with pytest.raises(PlanLimitReached):  # the action itself refuses, not only the page
        add_server(user, **server_fields(user, "mx3"))
    profile = owner_client.get(reverse("account_profile"))
    assert b'data-account-plan="free"' in profile.content


def test_free_allows_three_domains_and_no_fleet_runs(billing: None, user: User) -> None:
    server = add_server(user, **server_fields(user, "mx"))
    for n in range(3):
        add_domain(user, server, f"d{n}.example")
    client = Client()
    client.force_login(user)
    page = client.get(reverse("domain_add")).content.decode()
    assert "Your Free plan allows 3 sending domains; you have 3." in page
    with pytest.raises(PlanLimitReached, match="allows 3 sending domains, and you have 3"):
        add_domain(user, server, "d3.example")
    assert SendingDomain.objects.filter(owner=user).count() == 3
    with pytest.raises(PlanLimitReached, match="Fleet runs are not part of the Free plan"):
        start_fleet_run(user, "health", [server])
    assert not FleetRun.objects.exists()


def test_pro_allows_more_and_fleet_runs(billing: None, user: User) -> None:
    on_plan(user, "pro", Status.ACTIVE)
    servers = [add_server(user, **server_fields(user, f"mx{n}")) for n in range(10)]
    with pytest.raises(PlanLimitReached, match="Pro plan allows 10 servers"):
        add_server(user, **server_fields(user, "mx10"))
    assert start_fleet_run(user, "health", servers[:2]).pk


def test_past_due_keeps_the_plan_for_the_grace_period_then_adds_nothing(
    billing: None, user: User, owner_client: Client, settings: Any
) -> None:
    on_plan(user, "pro", Status.PAST_DUE, past_due_since=timezone.now())
    add_server(user, **server_fields(user, "mx1"))
    add_server(user, **server_fields(user, "mx2"))  # within the grace period: Pro's limits
    page = owner_client.get(reverse("servers"))
    assert b"data-billing-banner" in page.content and b"keeps working until" in page.content

    later = timezone.now() + timedelta(days=settings.BILLING_GRACE_DAYS, minutes=1)
    with time_machine.travel(later, tick=False):
        with pytest.raises(PlanLimitReached, match="not paid"):
            add_server(user, **server_fields(user, "mx3"))
        server = Server.objects.filter(owner=user).first()
        assert server is not None
        with pytest.raises(PlanLimitReached, match="not paid"):
            add_domain(user, server, "late.example")
        with pytest.raises(PlanLimitReached, match="not paid"):
            start_fleet_run(user, "health", [server])
        page = owner_client.get(reverse("servers"))
        assert b"adds nothing new" in page.content
        assert owner_client.get(reverse("privacy_your_data")).status_code == 200
        assert owner_client.get(reverse("privacy_delete")).status_code == 200
    assert Server.objects.filter(owner=user).count() == 2  # nothing touched


def test_canceled_falls_back_to_free_limits_and_deletes_nothing(billing: None, user: User) -> None:
    on_plan(user, "pro", Status.ACTIVE)
    for n in range(3):
        add_server(user, **server_fields(user, f"mx{n}"))
    on_plan(user, "free", Status.CANCELED)
    with pytest.raises(PlanLimitReached, match="Free plan allows 1 server, and you have 3"):
        add_server(user, **server_fields(user, "mx3"))
    assert Server.objects.filter(owner=user).count() == 3


def test_a_first_payment_that_failed_leaves_the_free_plan(billing: None, user: User) -> None:
    on_plan(user, "pro", Status.INCOMPLETE)
    assert allowance(user).plan.key == "free"  # type: ignore[union-attr]
    add_server(user, **server_fields(user, "mx"))
    with pytest.raises(PlanLimitReached, match="Free plan allows 1 server"):
        add_server(user, **server_fields(user, "mx2"))


def test_unpaid_after_the_processor_gave_up_adds_nothing(billing: None, user: User) -> None:
    on_plan(user, "pro", Status.UNPAID)
    with pytest.raises(PlanLimitReached, match="not paid"):
        add_server(user, **server_fields(user, "mx"))
