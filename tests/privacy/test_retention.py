"""Each retention period purges what is older and keeps what is younger, even cut short."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.activity.models import ActivityEvent
from mailpanel.jobs.models import Job, JobLogLine
from mailpanel.privacy.models import PurgeRun
from mailpanel.privacy.retention import days, purge

pytestmark = pytest.mark.django_db


def at(when: datetime) -> time_machine.travel:
    return time_machine.travel(when, tick=False)


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def made(period: str, make: Callable[[], object], extra: timedelta = timedelta(0)) -> None:
    """Make one row just past the period (old) and one just inside it (young)."""
    with at(NOW - timedelta(days=days(period)) - timedelta(hours=1) - extra):
        make()
    with at(NOW - timedelta(days=days(period)) + timedelta(hours=1)):
        make()


def test_job_log_lines_older_than_the_period_go(user: User) -> None:
    job = Job.objects.create(owner=user, kind="selftest", state="succeeded")
    seq = iter(range(1, 10))
    made("job_log_lines", lambda: JobLogLine.objects.create(job=job, seq=next(seq), text="x"))
    run = purge(now=NOW)
    assert JobLogLine.objects.count() == 1
    assert run.removed["job_log_lines"] == 1


def test_finished_jobs_go_with_their_lines_and_running_ones_stay(user: User) -> None:
    made("jobs", lambda: Job.objects.create(owner=user, kind="selftest", state="succeeded"))
    with at(NOW - timedelta(days=days("jobs") + 5)):
        Job.objects.create(owner=user, kind="selftest", state="running")
    purge(now=NOW)
    assert Job.objects.filter(state="succeeded").count() == 1
    assert Job.objects.filter(state="running").count() == 1


@pytest.mark.parametrize(
    ("period", "action"), [("activity", "server.added"), ("sign_ins", "account.signed_in")]
)
def test_activity_and_sign_ins_each_follow_their_own_period(
    user: User, settings: object, period: str, action: str
) -> None:
    # Different periods, so each purge is seen to act on its own rows only.
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "activity": 200, "sign_ins": 100}  # type: ignore[attr-defined]
    made(period, lambda: record_event(user, action))
    purge(now=NOW)
    assert ActivityEvent.objects.filter(action=action).count() == 1


def test_ended_sessions_go_after_their_period(user: User) -> None:
    def session() -> None:
        store = SessionStore()
        store.set_expiry(60)
        store.create()
        UserSession.objects.create(
            user=user, ip="198.51.100.1", session_key=store.session_key, user_agent="UA"
        )

    made("ended_sessions", session)
    purge(now=NOW)
    assert Session.objects.count() == 1
    assert UserSession.objects.count() == 1


def test_a_purge_cut_short_goes_on_where_it_stopped(user: User) -> None:
    job = Job.objects.create(owner=user, kind="selftest", state="running")
    with at(NOW - timedelta(days=days("job_log_lines") + 1)):
        JobLogLine.objects.bulk_create(JobLogLine(job=job, seq=i, text="x") for i in range(25))
    first = purge(now=NOW, max_batches=2, batch_size=10)
    assert first.removed["job_log_lines"] == 20
    assert JobLogLine.objects.count() == 5
    second = purge(now=NOW, batch_size=10)
    assert second.removed["job_log_lines"] == 5
    assert JobLogLine.objects.count() == 0
    assert purge(now=NOW).removed["job_log_lines"] == 0  # idempotent
    assert PurgeRun.objects.count() == 3
    assert all(isinstance(n, int) for n in second.removed.values())  # counts, never content


def test_the_your_data_page_shows_the_periods_the_purge_uses(
    owner_client: object, settings: object
) -> None:
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "job_log_lines": 42}  # type: ignore[attr-defined]
    page = owner_client.get("/account/data/")  # type: ignore[attr-defined]
    assert page.status_code == 200
    assert "42 days" in page.content.decode()
