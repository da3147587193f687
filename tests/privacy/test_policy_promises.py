"""The policy says what the code does: each promise links to a page that works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from mailpanel.privacy.retention import PERIODS

pytestmark = pytest.mark.django_db

POLICY = Path(settings.BASE_DIR) / "privacy" / "policies" / "2027-01-04.md"
LINK = re.compile(r"\]\((/[^)\s]*)\)")
# Each right the policy grants, and the page where the user exercises it.
PROMISES = {
    "report it": "/privacy/report-a-minor/",
    "Activity": "/activity/",
    "export": "/account/data/",
    "Your data": "/account/data/",
    "delete your account": "/account/data/delete/",
    "Cookies": "/cookies/",
    "contact form": "/support/",
    "make any request": "/account/data/requests/new/",
}


def text() -> str:
    return POLICY.read_text()


def test_every_link_in_the_policy_opens_a_working_page(owner_client: Client) -> None:
    links = set(LINK.findall(text()))
    assert links, "the policy links to no page"
    for path in sorted(links):
        response = owner_client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"


def test_each_promise_links_to_where_the_user_exercises_it() -> None:
    for words, path in PROMISES.items():
        assert re.search(rf"\[{re.escape(words)}\]\({re.escape(path)}\)", text()), words


def test_the_periods_the_policy_states_are_the_ones_the_purge_enforces() -> None:
    days = settings.RETENTION_DAYS
    policy = text()
    for key, phrase in [
        ("jobs", "Jobs: {d} days"),
        ("job_log_lines", "log lines (every secret removed): {d}"),
        ("sign_ins", "every use of a secret: {d} days"),
        ("ended_sessions", "Ended sessions: {d} days"),
        ("application_logs", "removed: {d} days"),
        ("exports", "deleted after {d} days"),
        ("billing_events", "about your subscription: {d} days"),
        ("invoices", "made out to: {d} days"),
    ]:
        flat = " ".join(policy.split())
        assert phrase.format(d=days[key]) in flat, key
    assert {p.key for p in PERIODS} <= set(days)


def test_the_export_limit_the_policy_states_is_the_code_s() -> None:
    assert settings.EXPORT_MIN_INTERVAL_HOURS == 24
    assert "as one ZIP file, once a day" in " ".join(text().split())
