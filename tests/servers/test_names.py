"""Names that would reach a shell or a config file are refused before anything runs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.servers.models import Server
from mailpanel.vault.actions import create_credential
from mailpanel.vault.models import Credential

pytestmark = pytest.mark.django_db

EVIL = [
    ("host;reboot", "may not contain"),
    ("host|cat", "may not contain"),
    ("`id`.example.com", "may not contain"),
    ("$(id).example.com", "may not contain"),
    ("mail.example.com\r\nX", "may not contain"),
    ("-oProxyCommand=x", "may not start with"),
    ("a" * 64 + ".example.com", "longer than 63"),
    (".".join(["a" * 60] * 5), "longer than 253"),
    ("exa mple.com", "may not contain"),
]


@pytest.fixture
def key(user: User) -> Credential:
    return create_credential(user, "ssh_password", "pw", {"password": "server-pass"})


@pytest.mark.parametrize(("bad", "message"), EVIL)
@pytest.mark.parametrize("field", ["host", "mail_hostname"])
def test_a_bad_host_or_hostname_is_refused_and_nothing_is_created(
    owner_client: Client, key: Credential, field: str, bad: str, message: str
) -> None:
    data = {
        "name": "web1",
        "host": "203.0.113.5",
        "port": 22,
        "username": "root",
        "credential": key.pk,
        "mail_hostname": "mail.example.com",
        "tls_mode": "self_signed",
    }
    data[field] = bad

    response = owner_client.post(reverse("server_add"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Server.objects.exists()


@pytest.mark.parametrize("bad", ["ro;ot", "-root", "Root", "a" * 33, "ro ot"])
def test_a_bad_user_name_is_refused(owner_client: Client, key: Credential, bad: str) -> None:
    data = {
        "name": "web1",
        "host": "203.0.113.5",
        "port": 22,
        "username": bad,
        "credential": key.pk,
        "mail_hostname": "mail.example.com",
        "tls_mode": "self_signed",
    }
    response = owner_client.post(reverse("server_add"), data)
    assert "user name" in response.content.decode()
    assert not Server.objects.exists()


def test_an_idn_domain_is_stored_as_its_a_label(owner_client: Client, key: Credential) -> None:
    data = {
        "name": "web1",
        "host": "bücher.example",
        "port": 22,
        "username": "root",
        "credential": key.pk,
        "mail_hostname": "mail.bücher.example",
        "tls_mode": "self_signed",
    }
    response = owner_client.post(reverse("server_add"), data)

    assert response.status_code == 302
    server = Server.objects.get()
    assert server.host == "xn--bcher-kva.example"
    assert server.mail_hostname == "mail.xn--bcher-kva.example"


def test_another_users_credential_cannot_be_chosen(owner_client: Client, other_user: User) -> None:
    theirs = create_credential(other_user, "ssh_password", "theirs", {"password": "x" * 12})
    data = {
        "name": "web1",
        "host": "203.0.113.5",
        "port": 22,
        "username": "root",
        "credential": theirs.pk,
        "mail_hostname": "mail.example.com",
        "tls_mode": "self_signed",
    }
    response = owner_client.post(reverse("server_add"), data)
    assert "Select a valid choice" in response.content.decode()
    assert not Server.objects.exists()
