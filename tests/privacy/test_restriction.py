"""Restriction: while the user paused processing, no job of theirs starts or runs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.jobs.actions import ProcessingPaused, start_job
from mailpanel.jobs.models import Job, JobState
from mailpanel.jobs.registry import KINDS
from mailpanel.privacy.actions import pause_processing, resume_processing
from mailpanel.privacy.exports import request_export
from tests.helpers import drain

pytestmark = pytest.mark.django_db


def test_every_job_kind_but_the_users_own_export_is_refused_while_paused(user: User) -> None:
    pause_processing(user)
    refused = []
    for kind in KINDS.values():
        if kind.runs_while_paused:
            continue
        with pytest.raises(ProcessingPaused):
            start_job(user, kind.name, "t", {})
        refused.append(kind.name)
    assert {"server.converge", "dns.apply", "dns.dkim_rotate", "selftest"} <= set(refused)
    assert [k.name for k in KINDS.values() if k.runs_while_paused] == ["privacy.export"]
    assert not Job.objects.filter(owner=user).exists()
    request_export(user)  # the user's own right still works


@pytest.mark.django_db(transaction=True)
def test_a_job_queued_before_the_pause_does_not_run(user: User, queue: Huey) -> None:
    job = start_job(user, "selftest", "panel", {"pause": 0})
    pause_processing(user)
    drain(queue)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert "paused" in job.error
    assert job.log_lines.count() == 1


def test_a_page_that_starts_a_job_says_processing_is_paused(
    owner_client: Client, user: User
) -> None:
    owner_client.post(reverse("privacy_pause"))
    response = owner_client.post(reverse("job_start_selftest"))
    assert response.status_code == 409
    assert b"Processing is paused" in response.content
    assert b"Your data" in response.content


def test_pause_and_resume_show_on_the_page_and_in_the_activity_log(
    owner_client: Client, user: User
) -> None:
    owner_client.post(reverse("privacy_pause"))
    owner_client.post(reverse("privacy_pause"))  # twice: one event
    page = owner_client.get(reverse("privacy_your_data"))
    assert b"Resume processing" in page.content
    owner_client.post(reverse("privacy_resume"))
    user.refresh_from_db()
    assert user.processing_paused_at is None
    actions = list(ActivityEvent.objects.filter(owner=user).values_list("action", flat=True))
    assert sorted(actions) == ["privacy.processing_paused", "privacy.processing_resumed"]
    start_job(user, "selftest")  # works again


def test_resume_without_pause_changes_nothing(user: User) -> None:
    resume_processing(user)
    assert not ActivityEvent.objects.filter(owner=user).exists()
