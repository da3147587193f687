"""Correction: the profile and the email address can be changed, each change logged."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent

pytestmark = pytest.mark.django_db


def test_a_profile_change_is_logged_with_its_old_and_new_value(
    owner_client: Client, user: User
) -> None:
    response = owner_client.post(
        reverse("account_profile"), {"full_name": "Olive Newname", "company": "Acme"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.full_name, user.company) == ("Olive Newname", "Acme")
    messages = set(
        ActivityEvent.objects.filter(owner=user, action="account.profile_changed").values_list(
            "message", flat=True
        )
    )
    assert messages == {"Name: Olive Owner → Olive Newname", "Company: (empty) → Acme"}
    owner_client.post(reverse("account_profile"), {"full_name": "Olive Newname", "company": "Acme"})
    assert ActivityEvent.objects.filter(action="account.profile_changed").count() == 2


def test_a_bad_name_changes_nothing(owner_client: Client, user: User) -> None:
    page = owner_client.post(reverse("account_profile"), {"full_name": "", "company": "x"})
    assert page.status_code == 200
    user.refresh_from_db()
    assert user.company == ""
    assert not ActivityEvent.objects.filter(owner=user).exists()


def test_an_email_change_goes_through_verification_of_the_new_address(
    owner_client: Client, user: User
) -> None:
    EmailAddress.objects.filter(user=user).update(verified=True, primary=True)
    owner_client.post(reverse("account_email"), {"email": "olive@new.example", "action_add": ""})
    user.refresh_from_db()
    assert user.email == "owner@example.test"  # not before the new address is verified
    body = str(mail.outbox[-1].body)
    assert mail.outbox[-1].to == ["olive@new.example"]
    link = re.search(r"https?://[^/\s]+(/account/confirm-email/\S+/)", body)
    assert link, body
    owner_client.post(link.group(1))
    user.refresh_from_db()
    assert user.email == "olive@new.example"
    event = ActivityEvent.objects.get(owner=user, action="account.email_changed")
    assert event.message == "Email changed from owner@example.test to olive@new.example"
