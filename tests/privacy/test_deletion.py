"""Deletion: secrets shredded at once, every row gone after, a mail to the old address."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from lab.smtp_store import header
from lab.smtpreceiver import wait_for_message
from mailpanel.accounts.models import User
from mailpanel.domains.models import DkimKey
from mailpanel.privacy.deletion import remove_rows, request_deletion
from mailpanel.privacy.registry import holdings
from mailpanel.privacy.retention import Budget, purge
from mailpanel.vault.keyring import DecryptionError
from mailpanel.vault.models import Credential
from tests.factories import DEFAULT_PASSWORD
from tests.helpers import drain, enable_totp, login, staff_client_with_2fa
from tests.privacy.estate import Estate, build_estate

pytestmark = pytest.mark.django_db(transaction=True)
HOST = "127.0.0.1"


@pytest.fixture
def mine(user: User) -> Estate:
    return build_estate(user, "olive", "OWNERSECRET1")


@pytest.fixture
def theirs(other_user: User) -> Estate:
    return build_estate(other_user, "oscar", "OTHERSECRET2")


def rows_left(user_id: int) -> dict[str, int]:
    left = {h.model: h.rows_of(user_id).count() for h in holdings() if h.model != "accounts.User"}
    left["accounts.User"] = User.objects.filter(pk=user_id).count()
    return {model: n for model, n in left.items() if n}


def sealed_copies(estate: Estate) -> list[Any]:
    """The user's ciphertexts as a backup would hold them, detached from the database."""
    copies: list[Any] = []
    for model in (Credential, DkimKey):
        for row in model.objects.filter(owner=estate.user):
            copies.append(model(pk=row.pk, owner_id=row.owner_id, secret=row.secret))
    assert copies
    return copies


def test_deleting_an_account_removes_every_row_and_shreds_every_secret(
    mine: Estate, theirs: Estate, mx: Path, queue: Huey
) -> None:
    user = mine.user
    copies = sealed_copies(mine)
    assert all(copy.unseal() for copy in copies)  # they open before
    Authenticator.objects.filter(user=user).delete()  # the estate's: enrol a real one
    client = Client()
    login(client, user.email)
    totp = pyotp.TOTP(enable_totp(client))

    page = client.get(reverse("privacy_delete"))
    assert b"mx-olive (192.0.2.10)" in page.content  # servers keep running: listed
    assert b"olive.example at cloudflare" in page.content  # records stay: listed
    form = {"password": DEFAULT_PASSWORD, "understood": "on"}
    assert (
        b"That code is not valid"
        in client.post(reverse("privacy_delete"), {**form, "code": "000000"}).content
    )
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):  # a fresh code
        response = client.post(reverse("privacy_delete"), {**form, "code": totp.now()})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302  # signed out

    for copy in copies:  # shredded at once, before the rows go
        with pytest.raises(DecryptionError):
            copy.unseal()
    drain(queue)

    assert rows_left(user.pk) == {}
    assert rows_left(theirs.user.pk)  # the other tenant is untouched
    assert theirs.credential.unseal()["private_key"] == "OTHERSECRET2"
    message = wait_for_message(mx, lambda m: user.email in m["rcpt_to"])
    assert "has been deleted" in (header(message, "Subject") or "")

    again = Client().post(
        reverse("account_signup"),
        {
            "full_name": "Olive Again",
            "email": user.email,
            "password1": "a long and unusual passphrase 7",
            "password2": "a long and unusual passphrase 7",
            "is_adult": "on",
            "accept_policy": "on",
            "accept_transfers": "on",
        },
    )
    assert again.status_code == 302
    assert User.objects.filter(email=user.email).exists()


def test_the_wrong_password_deletes_nothing(mine: Estate) -> None:
    client = Client()
    client.force_login(mine.user)
    page = client.post(reverse("privacy_delete"), {"password": "wrong", "understood": "on"})
    assert page.status_code == 200
    assert b"That is not your password" in page.content
    mine.user.refresh_from_db()
    assert mine.user.is_active and mine.user.deletion_requested_at is None
    assert mine.credential.unseal()["private_key"] == "OWNERSECRET1"


def test_a_deletion_cut_short_leaves_the_account_unusable_and_the_purge_finishes(
    mine: Estate, queue: Huey
) -> None:
    user = mine.user
    request_deletion(user)
    request_deletion(user)  # a double submit is harmless
    queue.flush()  # the worker died before it ran the task
    remove_rows(User.objects.get(pk=user.pk), Budget(2), batch_size=1)

    assert User.objects.filter(pk=user.pk).exists()
    assert rows_left(user.pk)  # some rows remain
    assert login(Client(), user.email).status_code == 200  # refused: the form again
    assert Session.objects.count() == 0
    with pytest.raises(DecryptionError):
        Credential.objects.get(pk=mine.credential.pk).unseal()

    purge()
    assert rows_left(user.pk) == {}


def test_staff_delete_an_account_that_owns_servers_domains_dns_and_drafts(
    mine: Estate, queue: Huey
) -> None:
    staff = staff_client_with_2fa("staff@example.test")
    url = reverse("admin:accounts_user_delete", args=[mine.user.pk])
    confirm = staff.get(url)
    assert confirm.status_code == 200
    assert b"Servers and their facts: " in confirm.content
    response = staff.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert rows_left(mine.user.pk) == {}


def test_the_confirmation_mail_failing_does_not_keep_the_data(
    mine: Estate, settings: Any, queue: Huey
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = HOST, 9  # nobody listens
    request_deletion(mine.user)
    drain(queue)
    assert rows_left(mine.user.pk) == {}
