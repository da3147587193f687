"""Two-factor secrets: staff never see them, and the database holds them sealed."""

from __future__ import annotations

import json
from typing import Any

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.mfa_secrets import is_sealed, unseal
from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from tests.factories import UserFactory
from tests.helpers import enable_totp, login, staff_client_with_2fa

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Each test signs in several times from one address: start under allauth's limits."""
    cache.clear()


def enrolled(email: str) -> tuple[User, Client, str]:
    """A member who turned on TOTP through the allauth pages (recovery codes come with it)."""
    user = UserFactory.create(email=email)
    client = Client()
    login(client, user.email)
    return user, client, enable_totp(client)


def raw_data(user: User) -> dict[str, str]:
    """Each authenticator's ``data`` column as the database holds it, by type."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, data FROM mfa_authenticator WHERE user_id = %s", [user.pk])
        rows = cursor.fetchall()
    return {kind: data if isinstance(data, str) else json.dumps(data) for kind, data in rows}


def recovery_seed(user: User) -> str:
    codes = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return unseal(codes.data["seed"])


def sign_in_with_second_factor(client: Client, user: User, code: str) -> Any:
    client.post(reverse("account_logout"))
    assert login(client, user.email)["Location"] == reverse("mfa_authenticate")
    return client.post(reverse("mfa_authenticate"), {"code": code})


def test_staff_find_no_authenticator_pages() -> None:
    user, _, _ = enrolled("member@example.test")
    staff = staff_client_with_2fa("staff@example.test")
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)

    assert staff.get(f"/staff/mfa/authenticator/{totp.pk}/change/").status_code == 404
    assert staff.get("/staff/mfa/authenticator/").status_code == 404
    assert staff.get("/staff/mfa/").status_code == 404
    assert b"/staff/mfa/" not in staff.get("/staff/").content


def test_the_user_page_shows_two_factor_methods_but_no_secret() -> None:
    user, _, secret = enrolled("member@example.test")
    staff = staff_client_with_2fa("staff@example.test")

    page = staff.get(f"/staff/accounts/user/{user.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "TOTP Authenticator" in text and "Recovery codes" in text
    for value in (secret, recovery_seed(user), "vault:v1:"):
        assert value not in text
    assert 'name="authenticator_set-0-data"' not in text


def test_staff_reset_removes_the_second_factor_and_is_audited() -> None:
    user, _, _ = enrolled("member@example.test")
    staff = staff_client_with_2fa("staff@example.test")

    response = staff.post(
        "/staff/accounts/user/", {"action": "reset_mfa", "_selected_action": [user.pk]}
    )

    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=user).exists()
    event = ActivityEvent.objects.get(owner=user, action="mfa.reset")
    assert event.actor is not None and event.actor.email == "staff@example.test"
    client = Client()
    assert login(client, user.email)["Location"] == reverse("dashboard")


def test_an_enrolled_totp_key_is_stored_sealed_and_still_signs_in() -> None:
    user, client, secret = enrolled("member@example.test")

    stored = raw_data(user)
    assert secret not in stored["totp"]
    assert recovery_seed(user) not in stored["recovery_codes"]
    assert is_sealed(json.loads(stored["totp"])["secret"])
    assert is_sealed(json.loads(stored["recovery_codes"])["seed"])

    response = sign_in_with_second_factor(client, user, pyotp.TOTP(secret).now())
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_recovery_code_signs_in_once() -> None:
    user, client, _ = enrolled("member@example.test")
    codes = client.get(reverse("mfa_view_recovery_codes")).context["unused_codes"]
    assert len(codes) == 10

    assert sign_in_with_second_factor(client, user, codes[0]).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    again = sign_in_with_second_factor(client, user, codes[0])
    assert again.status_code == 200  # a used code is refused
    assert client.get(reverse("dashboard")).status_code == 302
