from __future__ import annotations

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import enable_totp, login

pytestmark = pytest.mark.django_db


def test_email_verification_link_confirms_and_signs_in(client: Client) -> None:
    client.post(
        reverse("account_signup"),
        {
            "full_name": "Grace Hopper",
            "email": "grace@example.test",
            "password1": "a long and unusual passphrase 7",
            "password2": "a long and unusual passphrase 7",
            "is_adult": "on",
            "accept_policy": "on",
            "accept_transfers": "on",
        },
    )
    body = mail.outbox[0].body
    assert isinstance(body, str)
    link = re.search(r"https?://\S+/account/confirm-email/\S+/", body)
    assert link, body
    path = link.group(0).split("://", 1)[1].split("/", 1)[1]

    client.post("/" + path)

    assert client.get(reverse("dashboard")).status_code == 200
    # allauth is untyped, so the plugin does not know User.emailaddress_set.
    assert User.objects.get(email="grace@example.test").emailaddress_set.get().verified  # type: ignore[attr-defined]


def test_login_with_totp_asks_for_the_code_and_rejects_a_wrong_one() -> None:
    user = UserFactory.create(email="tot@example.test")
    client = Client()
    login(client, user.email)
    secret = enable_totp(client)
    client.post(reverse("account_logout"))

    response = login(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    bad = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert bad.status_code == 200
    assert client.get(reverse("dashboard")).status_code == 302  # still not signed in

    good = client.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    assert good.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_recovery_codes_exist_after_totp_is_enabled() -> None:
    user = UserFactory.create()
    client = Client()
    login(client, user.email)
    enable_totp(client)

    kinds = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    assert kinds == {"totp", "recovery_codes"}
    page = client.get(reverse("mfa_view_recovery_codes"))
    assert page.status_code == 200


def test_repeated_failed_logins_are_rate_limited() -> None:
    user = UserFactory.create(email="victim@example.test")
    client = Client()
    pages = [login(client, user.email, "wrong password 1") for _ in range(6)]

    assert all(page.status_code == 200 for page in pages)
    texts = [page.content.decode() for page in pages]
    assert all("Too many failed login attempts" not in text for text in texts[:5])
    assert "Too many failed login attempts" in texts[5]
    # Even the right password is refused while the limit holds.
    refused = login(client, user.email)
    assert refused.status_code == 200
    assert client.get(reverse("dashboard")).status_code == 302


def test_sessions_page_lists_sessions_and_signs_out_the_others() -> None:
    user = UserFactory.create(email="multi@example.test")
    laptop, phone = Client(HTTP_USER_AGENT="Laptop/1.0"), Client(HTTP_USER_AGENT="Phone/2.0")
    login(laptop, user.email)
    login(phone, user.email)
    laptop.get(reverse("dashboard"))
    phone.get(reverse("dashboard"))

    page = laptop.get(reverse("usersessions_list")).content.decode()
    assert "Laptop/1.0" in page and "Phone/2.0" in page
    laptop.post(reverse("usersessions_list"))

    assert laptop.get(reverse("dashboard")).status_code == 200
    assert phone.get(reverse("dashboard")).status_code == 302


def test_staff_pages_need_a_second_factor() -> None:
    staff = UserFactory.create(email="staff@example.test", is_staff=True, is_superuser=True)
    client = Client()
    login(client, staff.email)

    without = client.get("/staff/", follow=True)
    assert without.status_code == 403
    assert b"need two-factor authentication" in without.content

    secret = enable_totp(client)
    client.post(reverse("account_logout"))
    login(client, staff.email)
    client.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    assert client.get("/staff/").status_code == 200


def test_profile_edits_name_and_company(owner_client: Client, user: User) -> None:
    response = owner_client.post(
        reverse("account_profile"), {"full_name": "Olive Renamed", "company": "Acme"}
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.full_name, user.company) == ("Olive Renamed", "Acme")


def test_session_activity_is_written_at_most_once_a_minute() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = UserFactory.create(email="busy@example.test")
    client = Client(HTTP_USER_AGENT="Busy/1.0")
    login(client, user.email)
    client.get(reverse("dashboard"))  # the first request records the session

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            client.get(reverse("dashboard"))
    writes = [q["sql"] for q in queries.captured_queries if "usersessions" in q["sql"].lower()]
    assert writes == []
    assert "Busy/1.0" in client.get(reverse("usersessions_list")).content.decode()


def test_password_reset_through_the_emailed_link() -> None:
    user = UserFactory.create(email="forgot@example.test")
    client = Client()
    client.post(reverse("account_reset_password"), {"email": user.email})
    body = mail.outbox[-1].body
    assert isinstance(body, str)
    link = re.search(r"https?://[^/\s]+(/account/password/reset/key/\S+/)", body)
    assert link, body

    form_page = client.get(link.group(1), follow=True)
    new = "a brand new passphrase 99"
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": new, "password2": new},
    )
    assert done.status_code == 302
    assert login(Client(), user.email, new).status_code == 302
    assert login(Client(), user.email).status_code == 200  # the old password is refused


def test_password_change_needs_the_old_password(owner_client: Client, user: User) -> None:
    new = "another long passphrase 5"
    wrong = owner_client.post(
        reverse("account_change_password"),
        {"oldpassword": "not it", "password1": new, "password2": new},
    )
    assert wrong.status_code == 200
    owner_client.post(
        reverse("account_change_password"),
        {"oldpassword": DEFAULT_PASSWORD, "password1": new, "password2": new},
    )
    assert login(Client(), user.email, new).status_code == 302


def test_adding_an_email_address_sends_a_verification(owner_client: Client, user: User) -> None:
    owner_client.post(reverse("account_email"), {"action_add": "", "email": "new@example.test"})

    assert user.emailaddress_set.filter(email="new@example.test", verified=False).exists()  # type: ignore[attr-defined]
    assert mail.outbox[-1].to == ["new@example.test"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("full_name", "Olive\r\nBcc: x@evil.test"), ("full_name", "<b>Olive</b>"),
     ("company", "Acme <script>"), ("company", "Acme\nLtd")],
)  # fmt: skip
def test_the_profile_refuses_what_signup_refuses(
    owner_client: Client, user: User, field: str, value: str
) -> None:
    data = {"full_name": "Olive Owner", "company": "", field: value}

    response = owner_client.post(reverse("account_profile"), data)

    assert response.status_code == 200
    assert "special characters" in response.content.decode()
    user.refresh_from_db()
    assert (user.full_name, user.company) == ("Olive Owner", "")
