"""Huey glue: every hour, subscriptions whose period ended are fetched again (a webhook
lost on the way is caught here; the processor stays the truth)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mailpanel.billing import client
from mailpanel.billing.models import BillingAccount, Status
from mailpanel.billing.notices import send_past_due_notice
from mailpanel.billing.plans import billing_enabled
from mailpanel.billing.sync import apply_subscription


def resync_ended_periods() -> int:
    """How many accounts were fetched again."""
    if not billing_enabled():
        return 0
    due = BillingAccount.objects.filter(
        current_period_end__lt=timezone.now(),
        status__in=(Status.ACTIVE, Status.TRIALING, Status.PAST_DUE),
    ).exclude(subscription_id="")
    done = 0
    for pk, subscription_id in due.values_list("pk", "subscription_id"):
        fetched_at = timezone.now()
        try:
            current = client.retrieve_subscription(subscription_id)  # outside the lock
        except client.ProcessorError:
            continue
        with transaction.atomic():
            account = BillingAccount.objects.select_for_update().get(pk=pk)
            apply_subscription(account, current, fetched_at=fetched_at)
        done += 1
    return done


def send_pending_past_due_notices() -> int:
    """The past-due mails that could not go out when the payment failed (mail was down)."""
    pending = BillingAccount.objects.filter(
        status=Status.PAST_DUE, past_due_notice_sent_at__isnull=True
    ).values_list("pk", flat=True)
    return sum(send_past_due_notice(pk) for pk in pending)


@db_periodic_task(crontab(minute="41"))  # type: ignore[untyped-decorator]
def resync_billing_task() -> None:
    resync_ended_periods()
    send_pending_past_due_notices()
