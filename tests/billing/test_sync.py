"""The rules by which the panel's copy follows the processor's, without the processor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.sync import apply_subscription
from mailpanel.billing.tasks import send_pending_past_due_notices
from mailpanel.billing.webhooks import invoice_subscription
from tests.billing.conftest import PRO, billing_on

pytestmark = pytest.mark.django_db


def subscription(status: str, created: int = 1_800_000_000, **fields: Any) -> dict[str, Any]:
    return {"id": "sub_1", "status": status, "created": created, "customer": "cus_1",
            "items": {"data": [{"price": {"id": PRO}, "current_period_end": created + 30 * 86400}]},
            **fields}  # fmt: skip


@pytest.fixture
def account(user: User, settings: Any) -> BillingAccount:
    billing_on(settings)
    return BillingAccount.objects.create(owner=user, name="B", email=user.email, country="DE")


def test_a_snapshot_fetched_before_the_one_applied_is_not_applied_over_it(
    account: BillingAccount,
) -> None:
    earlier = timezone.now()
    later = earlier + timedelta(milliseconds=40)
    assert apply_subscription(account, subscription("active"), fetched_at=later) == ""
    stale = apply_subscription(account, subscription("past_due"), fetched_at=earlier)
    assert stale == "older snapshot"
    account.refresh_from_db()
    assert (account.status, account.plan, account.past_due_since) == ("active", "pro", None)


def test_an_unknown_status_changes_nothing(account: BillingAccount) -> None:
    assert apply_subscription(account, subscription("weird")) == "unknown status weird"
    account.refresh_from_db()
    assert account.status == Status.NONE


def test_the_invoice_s_subscription_is_read_from_either_api_shape() -> None:
    current = {"id": "in_1", "parent": {"subscription_details": {"subscription": "sub_new"}}}
    older = {"id": "in_2", "subscription": "sub_old"}
    assert invoice_subscription(current) == "sub_new"
    assert invoice_subscription(older) == "sub_old"
    assert invoice_subscription({"id": "in_3", "parent": None}) == ""


def test_a_past_due_mail_that_could_not_go_out_is_sent_by_the_hourly_task(
    account: BillingAccount,
) -> None:
    BillingAccount.objects.filter(pk=account.pk).update(
        status=Status.PAST_DUE, plan="pro", past_due_since=timezone.now()
    )
    assert send_pending_past_due_notices() == 1
    assert send_pending_past_due_notices() == 0  # once
    [notice] = mail.outbox
    assert "did not go through" in notice.subject
