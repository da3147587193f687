"""Factories and helpers for the Activity tests."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Model
from factory.declarations import SubFactory
from factory.django import DjangoModelFactory

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.jobs.models import Job, JobState
from tests.factories import UserFactory

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class ActivityEventFactory(DjangoModelFactory[ActivityEvent]):
    class Meta:
        model = ActivityEvent

    owner = SubFactory(UserFactory)  # type: ignore[no-untyped-call]
    action = "server.added"
    object_type = "servers.server"
    object_label = "mx1.example.test"


class JobFactory(DjangoModelFactory[Job]):
    class Meta:
        model = Job

    owner = SubFactory(UserFactory)  # type: ignore[no-untyped-call]
    kind = "selftest"
    target = "this panel"
    state = JobState.SUCCEEDED


def backdate(row: Model, when: datetime) -> None:
    """Set a row's creation time (auto_now_add sets it to now on insert)."""
    type(row)._default_manager.filter(pk=row.pk).update(created_at=when)


def bulk_history(owner: User, count: int) -> None:
    """``count`` actions and ``count`` jobs for ``owner``, in two INSERTs per batch."""
    ActivityEvent.objects.bulk_create(
        [
            ActivityEvent(owner=owner, action="server.added", object_label=f"s{i}")
            for i in range(count)
        ],
        batch_size=1000,
    )
    Job.objects.bulk_create(
        [Job(owner=owner, kind="selftest", target=f"t{i}") for i in range(count)],
        batch_size=1000,
    )
