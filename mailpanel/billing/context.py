"""The past-due banner: on every signed-in page while a payment is missing."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.plans import billing_enabled, grace_ends


def billing_banner(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if not billing_enabled() or user is None or not user.is_authenticated:
        return {}
    account = (
        BillingAccount.objects.filter(owner_id=user.pk, status=Status.PAST_DUE)
        .only("status", "past_due_since")
        .first()
    )
    if account is None:
        return {}
    ends = grace_ends(account)
    return {
        "billing_past_due": True,
        "billing_grace_ends": ends,
        "billing_in_grace": ends is not None and timezone.now() < ends,
    }
