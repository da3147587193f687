"""The mail a user gets when a payment failed: what happens, until when, what to do."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.plans import grace_ends, plan
from mailpanel.mail import send_templated

log = structlog.get_logger(__name__)


def send_past_due_notice(account_pk: Any) -> bool:
    """Once per past-due spell; whether it was sent."""
    account = BillingAccount.objects.select_related("owner").filter(pk=account_pk).first()
    if account is None or account.status != Status.PAST_DUE or account.past_due_notice_sent_at:
        return False
    context = {
        "plan": plan(account.plan),
        "grace_ends": grace_ends(account),
        "billing_url": settings.PUBLIC_URL.rstrip("/") + reverse("billing"),
    }
    try:
        send_templated(
            [account.owner.email],
            "Your payment did not go through",
            "mail/billing_past_due",
            context,
        )
    except (OSError, ValueError):
        log.warning("past-due notice not sent", reason="mail server unreachable")
        return False
    BillingAccount.objects.filter(pk=account.pk).update(past_due_notice_sent_at=timezone.now())
    return True
