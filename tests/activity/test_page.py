"""The Activity page: the owner's sign-ins, actions and jobs in one list, filtered and paged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.jobs.models import JobState
from tests.activity.support import (
    FIREFOX_LINUX,
    ActivityEventFactory,
    JobFactory,
    backdate,
    bulk_history,
)

pytestmark = pytest.mark.django_db
URL = "/activity/"


def page(client: Client, **params: str) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def on(day: int) -> datetime:
    return datetime(2026, 3, day, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(user: User) -> None:
    """A sign-in on 1 March, an action on 2 March, a job on 3 March."""
    backdate(
        ActivityEventFactory.create(
            owner=user,
            action="account.signed_in",
            object_label="",
            object_type="",
            ip="203.0.113.9",
            user_agent=FIREFOX_LINUX,
        ),
        on(1),
    )
    backdate(ActivityEventFactory.create(owner=user, object_label="mx-action.test"), on(2))
    backdate(JobFactory.create(owner=user, target="job-target.test"), on(3))


def test_the_page_lists_sign_ins_actions_and_jobs_newest_first(
    owner_client: Client, history: None
) -> None:
    text = page(owner_client)

    job, action, sign_in = (
        text.index("job-target.test"),
        text.index("Added the server mx-action.test"),
        text.index("203.0.113.9"),
    )
    assert job < action < sign_in
    assert "Firefox on Linux" in text
    assert "Self-test" in text and "Succeeded" in text


def test_a_job_links_to_its_page(owner_client: Client, user: User) -> None:
    job = JobFactory.create(owner=user, state=JobState.FAILED)

    text = page(owner_client)

    assert reverse("job_detail", args=[job.pk]) in text
    assert "state-failed" in text


@pytest.mark.parametrize(
    ("kind", "shown", "hidden"),
    [
        ("sign-ins", ["203.0.113.9"], ["mx-action.test", "job-target.test"]),
        ("actions", ["mx-action.test"], ["203.0.113.9", "job-target.test"]),
        ("jobs", ["job-target.test"], ["203.0.113.9", "mx-action.test"]),
        ("", ["203.0.113.9", "mx-action.test", "job-target.test"], []),
    ],
)
def test_the_kind_filter_shows_only_that_kind(
    owner_client: Client, history: None, kind: str, shown: list[str], hidden: list[str]
) -> None:
    text = page(owner_client, kind=kind)

    assert all(value in text for value in shown)
    assert not any(value in text for value in hidden)


def test_the_date_range_includes_both_of_its_days(owner_client: Client, history: None) -> None:
    text = page(owner_client, **{"from": "2026-03-02", "to": "2026-03-03"})

    assert "mx-action.test" in text and "job-target.test" in text
    assert "203.0.113.9" not in text


def test_one_day_and_one_kind_combine(owner_client: Client, history: None) -> None:
    text = page(owner_client, kind="jobs", **{"from": "2026-03-02", "to": "2026-03-02"})

    assert "Nothing matches these filters" in text


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"from": "2026-02-30"}, "Enter a real date as year-month-day"),
        ({"to": "yesterday"}, "Enter a real date as year-month-day"),
        ({"from": "0001-01-01"}, "between 1970 and 9999"),
        ({"from": "2026-03-03", "to": "2026-03-01"}, "is after"),
        ({"kind": "no-such-kind"}, "Select a valid choice"),
    ],
)
def test_a_bad_filter_is_a_clear_error_and_shows_no_rows(
    owner_client: Client, history: None, params: dict[str, str], error: str
) -> None:
    text = page(owner_client, **params).replace("&#x27;", "'")

    assert error in text
    assert "mx-action.test" not in text and "job-target.test" not in text
    assert "Download CSV" not in text


def test_the_page_holds_50_rows_and_links_the_next_with_the_filters(
    owner_client: Client, user: User
) -> None:
    ActivityEvent.objects.bulk_create(
        [ActivityEvent(owner=user, action="server.added", object_label=f"n{i}") for i in range(120)]
    )

    first = page(owner_client, kind="actions")
    last = page(owner_client, kind="actions", page="3")

    assert first.count("<tr>") == 51  # the head and 50 rows
    assert last.count("<tr>") == 21
    assert "?kind=actions&amp;page=2" in first
    assert "1\u201350 of 120" in first  # an en dash


def test_a_page_past_the_end_shows_the_last(owner_client: Client, user: User) -> None:
    ActivityEventFactory.create(owner=user, object_label="only-one.test")

    assert "only-one.test" in page(owner_client, page="999")


def queries_for(client: Client, **params: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        page(client, **params)
    return len(queries)


@pytest.mark.parametrize("kind", ["", "jobs", "actions"])
def test_the_page_costs_the_same_queries_for_10_and_10000_rows(
    owner_client: Client, user: User, kind: str
) -> None:
    bulk_history(user, 10)
    owner_client.get(URL)  # a session's first request records the session: not the page's
    small = queries_for(owner_client, kind=kind)
    bulk_history(user, 9_990)

    large = queries_for(owner_client, kind=kind)

    assert small == large
    assert large <= 5  # session, user, count, one page


def test_another_users_rows_never_show(owner_client: Client, user: User, other_user: User) -> None:
    ActivityEventFactory.create(owner=other_user, object_label="canary-other-action")
    ActivityEventFactory.create(
        owner=other_user, action="account.signed_in", ip="198.51.100.66", user_agent="Canary/1"
    )
    JobFactory.create(owner=other_user, target="canary-other-job")
    ActivityEventFactory.create(owner=user, object_label="mine.test")

    for kind in ("", "sign-ins", "actions", "jobs"):
        text = page(owner_client, kind=kind)
        assert "canary" not in text.lower() and "198.51.100.66" not in text


def test_an_empty_history_says_so(owner_client: Client) -> None:
    assert "No activity yet" in page(owner_client)


@pytest.mark.parametrize("path", [URL, "/activity/activity.csv"])
def test_an_anonymous_visitor_is_sent_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_navigation_links_the_page(owner_client: Client) -> None:
    text = page(owner_client)

    assert '<a href="/activity/" aria-current="page">Activity</a>' in text
