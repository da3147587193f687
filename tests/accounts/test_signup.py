from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.privacy.models import PolicyAcceptance, PolicyVersion
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.test",
    "company": "Analytical Engines Ltd",
    "password1": "a long and unusual passphrase 7",
    "password2": "a long and unusual passphrase 7",
    "is_adult": "on",
    "accept_policy": "on",
    "accept_transfers": "on",
}


def signup(client: Client, **changes: Any) -> Any:
    data = {**GOOD, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(reverse("account_signup"), data)


def test_a_complete_signup_creates_the_user_with_age_and_policy_recorded(client: Client) -> None:
    response = signup(client)

    assert response.status_code == 302
    user = User.objects.get(email="ada@example.test")
    assert user.full_name == "Ada Lovelace"
    assert user.company == "Analytical Engines Ltd"
    assert user.adult_confirmed_at is not None
    acceptance = PolicyAcceptance.objects.get(user=user)
    assert acceptance.policy == PolicyVersion.current()
    assert acceptance.accepted_at is not None
    assert acceptance.transfers_consented_at is not None  # recorded with the acceptance
    assert user.password.startswith("argon2$argon2id$")
    assert len(mail.outbox) == 1
    assert "confirm" in mail.outbox[0].body.lower()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"is_adult": None}, "is_adult", "You must be 18 or older"),
        ({"accept_policy": None}, "accept_policy", "accept the privacy policy"),
        ({"accept_transfers": None}, "accept_transfers", "please agree to sign up"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"email": "ada@@example..test"}, "email", "valid email"),
        ({"password1": "Sh0rt!", "password2": "Sh0rt!"}, "password1", "too short"),
        ({"password1": "password123", "password2": "password123"}, "password1", "too common"),
        ({"password2": "a different passphrase 8"}, "password2", "same password"),
        ({"full_name": ""}, "full_name", "required"),
        ({"full_name": "Eve\r\nBcc: x@evil.test"}, "full_name", "special characters"),
        ({"company": "<b>Acme</b>"}, "company", "special characters"),
    ],
)
def test_bad_signup_input_gives_a_form_error_and_creates_nothing(
    client: Client, changes: dict[str, Any], field: str, message: str
) -> None:
    response = signup(client, **changes)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message.lower() in " ".join(errors[field]).lower()
    assert message.lower() in response.content.decode().lower().replace("&#x27;", "'")
    assert not User.objects.exists()
    assert not PolicyAcceptance.objects.exists()
    assert mail.outbox == []


def test_an_email_already_used_answers_as_a_new_signup_and_mails_the_owner(
    client: Client,
) -> None:
    cache.clear()  # the verification mail limit (1 per address per 3 min) of earlier tests
    UserFactory.create(email="ada@example.test")
    fresh = signup(Client(), email="grace@example.test")

    response = signup(client, email="ADA@example.test")

    # The same answer a new address gets: the page cannot tell who has an account.
    assert response.status_code == fresh.status_code == 302
    assert response["Location"] == fresh["Location"]
    assert "already" not in client.get(response["Location"]).content.decode().lower()
    assert User.objects.filter(email__iexact="ada@example.test").count() == 1
    to_owner = [m for m in mail.outbox if m.to == ["ada@example.test"]]
    assert len(to_owner) == 1
    assert "already" in to_owner[0].body.lower()  # the owner is told, by mail


def test_signup_is_closed_while_no_policy_is_published(client: Client) -> None:
    PolicyVersion.objects.all().delete()

    response = client.get(reverse("account_signup"))

    assert b"closed" in response.content.lower()
    signup(client)
    assert not User.objects.exists()


def test_the_signup_page_shows_every_field_with_a_label(client: Client) -> None:
    page = client.get(reverse("account_signup")).content.decode()

    for label in ["Full name", "Email", "Company (optional)", "I am 18 or older", "privacy policy"]:
        assert label in page
