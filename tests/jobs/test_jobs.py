from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.jobs.actions import cancel_job, start_job
from mailpanel.jobs.context import JobContext
from mailpanel.jobs.models import Job, JobLogLine, JobState
from mailpanel.jobs.runner import WORKER_ID, reap_dead_jobs
from tests.helpers import drain

FAST = {"pause": 0.01}


def test_a_job_is_queued_only_after_commit_and_carries_only_its_id(
    user: User, queue: Huey, django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # type: ignore[operator]
        job = start_job(user, "selftest", "this panel", FAST)
        assert queue.pending_count() == 0
    for callback in callbacks:
        callback()

    (message,) = queue.pending()
    assert message.args == (str(job.pk),)
    assert message.kwargs == {}


# The worker closes its database connection after each task, as a real worker must:
# these tests run outside a wrapping transaction so that is harmless.
@pytest.mark.django_db(transaction=True)
def test_the_self_test_runs_through_the_queue_and_logs_each_step(user: User, queue: Huey) -> None:
    job = start_job(user, "selftest", "this panel", FAST)

    assert drain(queue) == 1

    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert job.progress == 100
    assert job.status_text == "All 5 checks passed"  # the outcome, not the last step's name
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    texts = [line.text for line in job.log_lines.all()]
    assert texts[0] == "▶ Database answers"
    assert any(t.startswith("✓ Log lines stream to the page (") for t in texts)
    assert texts[-1] == "All checks passed."
    assert [line.seq for line in job.log_lines.all()] == list(range(1, len(texts) + 1))


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_is_marked_failed_with_its_message(user: User, queue: Huey) -> None:
    job = start_job(user, "selftest", "", {**FAST, "fail_at": 2})
    drain(queue)

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "Self-test failed at step 2 as requested."
    assert job.log_lines.last().level == "error"  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_a_job_cancelled_while_queued_never_runs(user: User, queue: Huey) -> None:
    job = start_job(user, "selftest", "", FAST)
    cancel_job(job)
    drain(queue)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert not job.log_lines.exists()


@pytest.mark.django_db(transaction=True)
def test_a_running_job_stops_at_its_next_step_when_cancelled(user: User) -> None:
    from mailpanel.jobs.runner import run_job

    job = Job.objects.create(owner=user, kind="selftest", params={"pause": 0.4})

    def work() -> None:
        run_job(str(job.pk))
        connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 10
    while not JobLogLine.objects.filter(job=job).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    cancel_job(job)
    worker.join(timeout=20)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.log_lines.last().text == "Cancelled by the owner."  # type: ignore[union-attr]
    assert not job.log_lines.filter(text="All checks passed.").exists()


def test_a_job_whose_worker_died_is_marked_failed(user: User) -> None:
    old = timezone.now() - timedelta(minutes=10)
    stale = Job.objects.create(
        owner=user, kind="selftest", state=JobState.RUNNING, heartbeat_at=old, worker="gone:1"
    )
    alive = Job.objects.create(
        owner=user,
        kind="selftest",
        state=JobState.RUNNING,
        heartbeat_at=timezone.now(),
        worker=WORKER_ID,
    )

    assert reap_dead_jobs() == 1

    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.state == JobState.FAILED
    assert "worker running this job stopped" in stale.error
    assert alive.state == JobState.RUNNING


def test_on_start_a_worker_fails_its_hosts_jobs_whose_process_is_gone(user: User) -> None:
    host = WORKER_ID.rsplit(":", 1)[0]
    dead_pid = max(os.getpid() + 400000, 4000000)
    orphan = Job.objects.create(
        owner=user,
        kind="selftest",
        state=JobState.RUNNING,
        heartbeat_at=timezone.now(),
        worker=f"{host}:{dead_pid}",
    )

    assert reap_dead_jobs(this_worker_starting=True) == 1
    orphan.refresh_from_db()
    assert orphan.state == JobState.FAILED


def test_log_lines_are_redacted(user: User) -> None:
    job = Job.objects.create(owner=user, kind="selftest", state=JobState.RUNNING)
    ctx = JobContext(job, secrets=["hunter2-canary-secret"])

    ctx.log("connecting with password hunter2-canary-secret and key nvapi-abcdefghijklmnop")
    ctx.log("Authorization: Bearer abc.def.ghi")

    text = "\n".join(job.log_lines.values_list("text", flat=True))
    assert "hunter2-canary-secret" not in text
    assert "nvapi-abcdefghijklmnop" not in text
    assert "abc.def.ghi" not in text
    assert text.count("[redacted]") == 3


def test_another_users_job_is_a_404_everywhere(user: User, other_client: Client) -> None:
    job = Job.objects.create(owner=user, kind="selftest")

    assert other_client.get(reverse("job_detail", args=[job.pk])).status_code == 404
    assert other_client.post(reverse("job_cancel", args=[job.pk])).status_code == 404
    assert other_client.get(reverse("job_events", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert not job.cancel_requested and job.state == JobState.QUEUED
    assert str(job.pk) not in other_client.get(reverse("job_list")).content.decode()


def test_anonymous_visitors_are_sent_to_login(client: Client, user: User) -> None:
    job = Job.objects.create(owner=user, kind="selftest")

    response = client.get(reverse("job_detail", args=[job.pk]))
    assert response.status_code == 302 and "/account/login/" in response["Location"]


def test_the_job_page_cancel_button_cancels(owner_client: Client, user: User) -> None:
    job = Job.objects.create(owner=user, kind="selftest")

    response = owner_client.post(reverse("job_cancel", args=[job.pk]), follow=True)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert b"Cancel requested" in response.content


def test_the_job_list_costs_the_same_queries_for_1_and_60_jobs(
    owner_client: Client, user: User
) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert owner_client.get(reverse("job_list")).status_code == 200
        return len(ctx.captured_queries)

    Job.objects.create(owner=user, kind="selftest")
    owner_client.get(reverse("dashboard"))  # the first request records the session
    one = count()
    Job.objects.bulk_create([Job(owner=user, kind="selftest") for _ in range(59)])
    assert count() == one
