"""Failed logins lock out the address that failed, not the account's owner elsewhere, until a
longer per-account threshold says the account is under attack."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
LIMITED = "Too many failed login attempts"


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


def attempt(address: str, email: str, password: str) -> Client:
    client = Client(REMOTE_ADDR=address)
    page = client.post(reverse("account_login"), {"login": email, "password": password})
    client.last_page = page.content.decode()  # type: ignore[attr-defined]
    return client


def test_a_strangers_failures_do_not_lock_the_owner_out() -> None:
    owner = UserFactory.create(email="victim@example.test")
    stranger = [attempt("203.0.113.50", owner.email, "guess") for _ in range(6)]

    owner_client = attempt("198.51.100.7", owner.email, DEFAULT_PASSWORD)

    assert LIMITED in stranger[-1].last_page  # type: ignore[attr-defined]
    assert owner_client.get(reverse("dashboard")).status_code == 200


def test_failures_from_many_addresses_lock_the_account_at_its_own_threshold() -> None:
    owner = UserFactory.create(email="target@example.test")
    for i in range(30):
        attempt(f"192.0.2.{i}", owner.email, "guess")

    late = attempt("198.51.100.9", owner.email, DEFAULT_PASSWORD)

    assert LIMITED in late.last_page  # type: ignore[attr-defined]
    assert late.get(reverse("dashboard")).status_code == 302
