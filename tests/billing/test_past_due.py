"""A payment that fails: past due, the banner and one email, the plan kept for the grace
period, then nothing new until paid, with the servers, the data, export and deletion kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.plans import PlanLimitReached
from mailpanel.privacy.models import DataExport
from mailpanel.servers.actions import add_server
from mailpanel.servers.models import Server
from tests.billing.conftest import (
    CONTACT,
    FAILS_LATER,
    GOOD,
    Processor,
    account_of,
    pay,
    wait_for_status,
    wait_until,
)
from tests.billing.test_limits import server_fields

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_renewal_that_fails_gives_past_due_a_banner_an_email_then_read_only(
    subscribed: BillingAccount, processor: Processor, user: User, owner_client: Client,
    settings: Any,
) -> None:  # fmt: skip
    add_server(user, **server_fields(user, "mx1"))
    mail.outbox.clear()

    failed = processor.lab.fail_payment(subscribed.subscription_id)

    assert failed["subscription"]["status"] == "past_due"
    account = wait_for_status(user, Status.PAST_DUE)
    assert account.plan == "pro" and account.past_due_since is not None
    wait_until(lambda: len(mail.outbox) == 1, what="the past-due email")
    [notice] = mail.outbox
    assert notice.to == [user.email] and "did not go through" in notice.subject
    assert "export and deletion keep working" in notice.body
    assert f"{settings.PUBLIC_URL}{reverse('billing')}" in notice.body
    page = owner_client.get(reverse("dashboard"))
    assert b"data-billing-banner" in page.content and b"keeps working until" in page.content
    add_server(user, **server_fields(user, "mx2"))  # the grace period: Pro still
    kinds = [kind for kind, status in processor.delivered() if status == 200]
    assert "invoice.payment_failed" in kinds
    processor.lab.resend(processor.event_ids("invoice.payment_failed")[-1])
    assert len(mail.outbox) == 1  # once per past-due spell

    after_grace = timezone.now() + timedelta(days=settings.BILLING_GRACE_DAYS, hours=1)
    with time_machine.travel(after_grace, tick=False):
        with pytest.raises(PlanLimitReached, match="not paid"):
            add_server(user, **server_fields(user, "mx3"))
        mine = [str(pk) for pk in Server.objects.filter(owner=user).values_list("pk", flat=True)]
        refused = owner_client.post(
            reverse("server_fleet_start"), {"action": "health", "server": mine}
        )
        assert refused.status_code == 403 and b"not paid" in refused.content
        export = owner_client.post(reverse("privacy_export_request"))
        assert export.status_code == 302 and DataExport.objects.filter(owner=user).exists()
        billing = owner_client.get(reverse("billing"))
        assert b"read-only" in billing.content
        assert b"adds nothing new" in owner_client.get(reverse("servers")).content
        assert owner_client.get(reverse("privacy_your_data")).status_code == 200
    assert sorted(Server.objects.filter(owner=user).values_list("name", flat=True)) == [
        "mx1", "mx2"
    ]  # fmt: skip


def test_a_card_whose_charge_fails_leaves_the_free_plan_and_says_so(
    processor: Processor, user: User, owner_client: Client
) -> None:
    response = owner_client.post(reverse("billing_subscribe"), {"plan": "pro", **CONTACT})
    paid = pay(response["Location"], FAILS_LATER)
    assert paid.status_code == 402  # the processor's page says the charge failed
    account = wait_for_status(user, Status.INCOMPLETE)
    assert ("invoice.payment_failed", 200) in processor.delivered()
    page = owner_client.get(reverse("billing"))
    assert b'data-plan="free"' in page.content and b"subscription incomplete" in page.content
    add_server(user, **server_fields(user, "mx1"))
    with pytest.raises(PlanLimitReached, match="Free plan"):
        add_server(user, **server_fields(user, "mx2"))
    retry = pay(response["Location"], GOOD)  # paying again with a good card completes it
    assert retry.status_code == 303
    assert wait_for_status(user, Status.ACTIVE).subscription_id == account.subscription_id
    add_server(user, **server_fields(user, "mx3"))
    assert account_of(user).plan == "pro"
