"""Retention made true: each period in ``settings.RETENTION_DAYS`` has a purge that enforces it.

The purge runs every night (``privacy.tasks``), removes rows in batches (each batch its own
transaction, so an interrupted purge loses nothing and the next run goes on where it
stopped) and records what it removed as counts in a ``PurgeRun``, never the content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from mailpanel.activity.models import ActivityEvent
from mailpanel.activity.signins import SIGN_IN_ACTIONS
from mailpanel.billing.models import InvoiceRecord, WebhookEvent
from mailpanel.jobs.models import FINISHED_STATES, Job, JobLogLine
from mailpanel.privacy.models import PurgeRun


@dataclass(frozen=True)
class Period:
    key: str
    title: str
    ends: str  # what happens at the end, for people


PERIODS: tuple[Period, ...] = (
    Period("job_log_lines", "Job log lines", "deleted"),
    Period("jobs", "Finished jobs", "deleted, with their log lines"),
    Period("activity", "Activity log (actions and job runs)", "deleted"),
    Period("sign_ins", "Sign-in history (time, IP, browser)", "deleted"),
    Period("ended_sessions", "Ended sessions", "deleted"),
    Period("exports", "Export files", "file deleted; the link answers 410"),
    Period("application_logs", "Application log files", "file deleted"),
    Period("deleted_accounts", "What is left of a deleted account", "deleted"),
    Period("data_requests", "Data requests, from when they were closed", "deleted"),
    Period("notices", "Breach notices sent, from when they went out", "deleted"),
    Period("minor_reports", "Reports of a minor's account, from receipt", "deleted"),
    Period("support", "Support conversations, from their last message", "deleted"),
    Period("invoices", "Invoices, from their date (tax law)", "deleted"),
    Period("billing_events", "Payment processor events, from receipt", "deleted"),
)


def days(key: str) -> int:
    return int(settings.RETENTION_DAYS[key])


def cutoff(key: str, now: datetime) -> datetime:
    return now - timedelta(days=days(key))


class Budget:
    """How many batches this run may still take (None: no limit)."""

    def __init__(self, batches: int | None) -> None:
        self.left = batches

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def delete_in_batches(qs: QuerySet[Model], budget: Budget, batch_size: int) -> int:
    removed = 0
    model = qs.model
    while budget.take():
        ids = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            model._default_manager.filter(pk__in=ids).delete()
        removed += len(ids)
    return removed


Purge = Callable[[datetime, Budget, int], int]


def purge_job_log_lines(now: datetime, budget: Budget, size: int) -> int:
    old = JobLogLine.objects.filter(at__lt=cutoff("job_log_lines", now))
    return delete_in_batches(old, budget, size)


def purge_jobs(now: datetime, budget: Budget, size: int) -> int:
    old = Job.objects.filter(created_at__lt=cutoff("jobs", now), state__in=FINISHED_STATES)
    return delete_in_batches(old, budget, size)


def purge_activity(now: datetime, budget: Budget, size: int) -> int:
    old = ActivityEvent.objects.filter(created_at__lt=cutoff("activity", now)).exclude(
        action__in=SIGN_IN_ACTIONS
    )
    return delete_in_batches(old, budget, size)


def purge_sign_ins(now: datetime, budget: Budget, size: int) -> int:
    old = ActivityEvent.objects.filter(
        created_at__lt=cutoff("sign_ins", now), action__in=SIGN_IN_ACTIONS
    )
    return delete_in_batches(old, budget, size)


def purge_ended_sessions(now: datetime, budget: Budget, size: int) -> int:
    from allauth.usersessions.models import UserSession

    before = cutoff("ended_sessions", now)
    ended = delete_in_batches(Session.objects.filter(expire_date__lt=before), budget, size)
    live = Session.objects.filter(expire_date__gte=now).values("session_key")
    gone = UserSession.objects.filter(last_seen_at__lt=before).exclude(session_key__in=live)
    return ended + delete_in_batches(gone, budget, size)


def purge_exports(now: datetime, budget: Budget, size: int) -> int:
    from mailpanel.privacy.exports import expire_exports

    return expire_exports(now, budget, size)


def purge_application_logs(now: datetime, budget: Budget, size: int) -> int:
    from mailpanel.logs import purge_log_files

    return purge_log_files(days("application_logs"), now=now) if budget.take() else 0


def purge_deleted_accounts(now: datetime, budget: Budget, size: int) -> int:
    from mailpanel.privacy.deletion import finish_deletions

    return finish_deletions(cutoff("deleted_accounts", now), budget, size)


def purge_data_requests(now: datetime, budget: Budget, size: int) -> int:
    from mailpanel.privacy.models import DataRequest

    old = DataRequest.objects.filter(closed_at__lt=cutoff("data_requests", now))
    return delete_in_batches(old, budget, size)


def purge_notices(now: datetime, budget: Budget, size: int) -> int:
    from mailpanel.privacy.models import BreachNotice

    old = BreachNotice.objects.filter(sent_at__lt=cutoff("notices", now))
    return delete_in_batches(old, budget, size)


def purge_minor_reports(now: datetime, budget: Budget, size: int) -> int:
    from mailpanel.privacy.models import MinorReport

    old = MinorReport.objects.filter(received_at__lt=cutoff("minor_reports", now))
    return delete_in_batches(old, budget, size)


def purge_invoices(now: datetime, budget: Budget, size: int) -> int:
    old = InvoiceRecord.objects.filter(issued_at__lt=cutoff("invoices", now))
    return delete_in_batches(old, budget, size)


def purge_billing_events(now: datetime, budget: Budget, size: int) -> int:
    old = WebhookEvent.objects.filter(received_at__lt=cutoff("billing_events", now))
    return delete_in_batches(old, budget, size)


def purge_support(now: datetime, budget: Budget, size: int) -> int:
    """Conversations quiet for the period go, owned or not, with the mail they hold."""
    from mailpanel.privacy.deletion import delete_inbound_mail
    from mailpanel.support.models import Thread

    old = Thread.objects.filter(updated_at__lt=cutoff("support", now))
    delete_inbound_mail(old_inbound(now), budget, size)
    return delete_in_batches(old, budget, size)


def old_inbound(now: datetime) -> QuerySet[Model]:
    """Received mail older than the support period that no kept data request points at."""
    from mailpanel.inbound.models import InboundMessage
    from mailpanel.privacy.models import DataRequest

    kept = DataRequest.objects.filter(inbound__isnull=False).values("inbound_id")
    qs: QuerySet[Model] = InboundMessage.objects.filter(
        received_at__lt=cutoff("support", now)
    ).exclude(pk__in=kept)
    return qs


PURGES: dict[str, Purge] = {
    "job_log_lines": purge_job_log_lines,
    "jobs": purge_jobs,
    "activity": purge_activity,
    "sign_ins": purge_sign_ins,
    "ended_sessions": purge_ended_sessions,
    "exports": purge_exports,
    "application_logs": purge_application_logs,
    "deleted_accounts": purge_deleted_accounts,
    "data_requests": purge_data_requests,
    "notices": purge_notices,
    "minor_reports": purge_minor_reports,
    "support": purge_support,
    "invoices": purge_invoices,
    "billing_events": purge_billing_events,
}


def purge(
    now: datetime | None = None, max_batches: int | None = None, batch_size: int | None = None
) -> PurgeRun:
    """Enforce every period once. ``max_batches`` bounds the work (a run cut short)."""
    now = now or timezone.now()
    size = batch_size or settings.PURGE_BATCH_SIZE
    budget = Budget(max_batches)
    run = PurgeRun.objects.create(started_at=now)
    removed = {key: PURGES[key](now, budget, size) for key in PURGES}
    run.removed = removed
    run.finished_at = timezone.now()
    run.save(update_fields=["removed", "finished_at"])
    return run
