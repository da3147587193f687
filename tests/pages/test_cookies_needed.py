"""Without cookies, signing in fails with a page that says cookies are needed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def test_signing_in_without_cookies_says_cookies_are_needed(user: User) -> None:
    client = Client(enforce_csrf_checks=True)  # a browser that keeps no cookie
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 403
    assert b"Cookies are needed to sign in" in response.content
    assert b"csrftoken" in response.content
    assert "_auth_user_id" not in client.session


def test_a_stale_form_with_cookies_says_it_expired(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("account_login"))  # the csrf cookie is set
    response = client.post(reverse("account_login"), {"login": user.email, "password": "x"})
    assert response.status_code == 403
    assert b"This form has expired" in response.content
