"""Sign-ins, sign-outs and failed sign-ins land in the owner's activity, with where from."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.activity.browsers import browser_summary
from mailpanel.activity.models import ActivityEvent
from tests.activity.support import FIREFOX_LINUX
from tests.factories import UserFactory
from tests.helpers import login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()  # the login rate limits live in the cache


def browser(address: str = "203.0.113.9", agent: str = FIREFOX_LINUX) -> Client:
    return Client(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)


def test_a_sign_in_records_the_address_and_the_browser(user: User) -> None:
    client = browser()

    response = login(client, user.email)

    assert response.status_code == 302
    event = ActivityEvent.objects.get(owner=user)
    assert (event.action, event.ip, event.user_agent) == (
        "account.signed_in",
        "203.0.113.9",
        FIREFOX_LINUX,
    )
    page = client.get(reverse("activity")).content.decode()
    assert "203.0.113.9" in page and "Firefox on Linux" in page


def test_a_sign_in_over_ipv6_keeps_the_address() -> None:
    user = UserFactory.create()

    login(browser("2001:db8::7"), user.email)

    assert ActivityEvent.objects.get(owner=user, action="account.signed_in").ip == "2001:db8::7"


def test_a_long_user_agent_is_cut_to_300_characters(user: User) -> None:
    login(browser(agent=FIREFOX_LINUX + " x" * 400), user.email)

    assert len(ActivityEvent.objects.get(owner=user).user_agent) == 300


def test_a_sign_out_is_recorded(user: User) -> None:
    client = browser()
    login(client, user.email)

    client.post(reverse("account_logout"))

    actions = list(ActivityEvent.objects.filter(owner=user).values_list("action", flat=True))
    assert sorted(actions) == ["account.signed_in", "account.signed_out"]


def test_a_wrong_password_for_a_known_account_is_recorded_for_its_owner(user: User) -> None:
    login(browser("198.51.100.20"), user.email, "not the password")

    event = ActivityEvent.objects.get(owner=user)
    assert (event.action, event.ip) == ("account.sign_in_failed", "198.51.100.20")


def test_a_wrong_password_for_an_unknown_address_writes_nothing(user: User) -> None:
    login(browser(), "nobody@example.test", "whatever it is")

    assert not ActivityEvent.objects.exists()


def test_force_login_is_no_sign_in_by_a_person(user: User) -> None:
    Client().force_login(user)

    assert not ActivityEvent.objects.exists()


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/126.0.0.0 Safari/537.36",
            "Chrome on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "curl"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "A browser on Linux"),
        ("???", "Unknown browser"),
        ("", ""),
    ],
)
def test_the_browser_summary_names_browser_and_system(agent: str, summary: str) -> None:
    assert browser_summary(agent) == summary
