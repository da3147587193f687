"""What a newcomer meets on the pages: the rough edges a first run found, kept gone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mailpanel.accounts.models import User
from mailpanel.servers.models import Server
from mailpanel.vault.actions import create_credential
from mailpanel.vault.models import Credential
from tests.dns.support import make_domain, make_server
from tests.helpers import enable_totp, login

SIGNED_IN_NAV = 'id="main-nav"'


def test_the_new_smtp_password_page_keeps_the_signed_in_layout(
    owner_client: Client, user: User
) -> None:
    domain = make_domain(user, make_server(user), "shop.example.test")

    page = owner_client.post(f"/domains/{domain.pk}/smtp-users/add/", {"local_part": "news"})
    html = page.content.decode()

    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert SIGNED_IN_NAV in html and ">Sign in<" not in html
    assert "news@shop.example.test can send mail" in html
    assert re.search(r'<code id="smtp-password" data-smtp-password>[^<]{16,}</code>', html)
    assert 'data-copy="#smtp-password"' in html
    assert "shown <strong>once</strong>" in html
    assert f'href="/domains/{domain.pk}/"' in html


def test_server_facts_are_shown_in_human_units(owner_client: Client, user: User) -> None:
    server = make_server(user)
    Server.objects.filter(pk=server.pk).update(
        facts={
            "cpus": 2, "mem_kb": 24683520, "disk_kb": 262144000, "disk_free_kb": 199229440,
            "disk_used_pct": 24, "disk_mount": "/", "queue": 0, "ptr": {},
            "cert_expires_at": datetime(2027, 3, 1, tzinfo=UTC).isoformat(),
        }
    )  # fmt: skip

    html = owner_client.get(f"/servers/{server.pk}/").content.decode()

    assert "<span data-memory>23.5 GiB</span>" in html
    assert "<span data-disk>190 GiB free of 250 GiB, 24% used</span>" in html
    assert "0 messages" in html
    assert "valid until 2027-03-01" in html
    assert 'min="1"' in owner_client.get("/servers/add/").content.decode()


def test_the_overview_follows_the_accounts_real_state(user: User) -> None:
    client = Client()
    login(client, user.email)

    before = client.get("/overview/").content.decode()
    enable_totp(client)
    make_domain(user, make_server(user, converged=True), "mail.example.test")
    after = client.get("/overview/").content.decode()

    assert "Turn on two-factor authentication" in before and "Try the pipe" not in before
    assert "Start the guided setup" in before
    assert "Turn on two-factor authentication" not in after
    assert "Two-factor authentication is on" in after
    assert "1 server (1 provisioned)" in after and "1 sending domain (1 verified)" in after


def test_the_overview_costs_the_same_queries_for_one_server_or_many(
    owner_client: Client, user: User
) -> None:
    make_server(user)
    owner_client.get("/overview/")  # the session's first request records its activity
    with CaptureQueriesContext(connection) as one:
        owner_client.get("/overview/")
    for _ in range(5):
        make_domain(user, make_server(user), f"d{Server.objects.count()}.example.test")
    with CaptureQueriesContext(connection) as many:
        owner_client.get("/overview/")

    assert len(many) == len(one)


def test_connecting_a_dns_account_offers_the_tokens_and_comes_back(
    owner_client: Client, user: User
) -> None:
    empty = owner_client.get("/dns/accounts/add/").content.decode()
    assert "Zone · DNS · Edit" in empty  # what a Cloudflare token needs
    add = re.search(r'href="(/credentials/add/\?kind=cloudflare&amp;next=[^"]+)"', empty)
    assert add, empty
    form_url = add[1].replace("&amp;", "&")

    stored = owner_client.post(
        form_url,
        {"kind": "cloudflare", "label": "cf", "token": "t" * 40, "next": "/dns/accounts/add/"},
    )

    credential = Credential.objects.get(owner=user, kind="cloudflare")
    assert stored.status_code == 302
    assert stored["Location"] == f"/dns/accounts/add/?credential={credential.pk}"
    again = owner_client.get(stored["Location"]).content.decode()
    assert f'<option value="{credential.pk}" selected>' in again


@pytest.mark.parametrize("target", ["//outside.example/", "https://outside.example/", "/\\x"])
def test_a_next_page_elsewhere_is_ignored(owner_client: Client, user: User, target: str) -> None:
    stored = owner_client.post(
        "/credentials/add/?kind=cloudflare",
        {"kind": "cloudflare", "label": "cf", "token": "t" * 40, "next": target},
    )

    credential = Credential.objects.get(owner=user, kind="cloudflare")
    assert stored["Location"] == f"/credentials/{credential.pk}/"


def test_assistant_settings_send_the_user_back_after_adding_a_key(owner_client: Client) -> None:
    page = owner_client.get("/assistant/settings/").content.decode()

    assert "/credentials/add/?kind=nvidia&amp;next=/assistant/settings/" in page


def test_assistant_settings_show_no_empty_model_label(owner_client: Client, user: User) -> None:
    create_credential(user, "nvidia", "key", {"api_key": "nvapi-" + "k" * 40})

    page = owner_client.get("/assistant/settings/").content.decode()

    assert "NVIDIA API key" in page
    assert ">Model</label>" not in page


def test_signup_mail_and_pages_speak_as_the_panel(client: Client, db: None) -> None:
    cache.clear()
    signup = client.get("/account/signup/").content.decode()
    assert "<h1>Sign up</h1>" in signup.replace("\n", "").replace("  ", "") or ">Sign up<" in signup
    assert "Sign Up" not in signup

    sent = client.post(
        "/account/signup/",
        {
            "full_name": "Ada Lovelace", "email": "ada@example.test",
            "password1": "a long and unusual passphrase 7",
            "password2": "a long and unusual passphrase 7", "is_adult": "on", "accept_policy": "on",
            "accept_transfers": "on",
        },
        follow=True,
    )  # fmt: skip

    html = sent.content.decode()
    assert "outbox" in html and "spam folder" not in html
    (message,) = mail.outbox
    assert message.body.startswith("Hello from MailPanel Pro!")
    assert "127.0.0.1:8000!" not in message.body and "testserver!" not in message.body
    assert "noreply@localhost" not in message.from_email


def test_the_recovery_codes_buttons_are_apart(user: User) -> None:
    client = Client()
    login(client, user.email)
    enable_totp(client)

    page = client.get("/account/2fa/recovery-codes/").content.decode()

    actions = re.search(r'<div class="actions">(.*?)</div>', page, re.DOTALL)
    assert actions and "Download codes" in actions[1] and "Generate new codes" in actions[1]


def test_the_favicon_answers(client: Client, db: None) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert client.get(response["Location"]).status_code == 200
