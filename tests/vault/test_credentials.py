from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.vault.actions import create_credential
from mailpanel.vault.models import Credential
from tests.vault.conftest import KeyOptions, private_key

pytestmark = pytest.mark.django_db


def add(client: Client, kind: str, **fields: str) -> Any:
    return client.post(reverse("credential_add"), {"kind": kind, "label": f"my {kind}", **fields})


DAMAGED_PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
VALID = {
    "ssh_password": {"password": "s3cret-ssh-pass"},
    "cloudflare": {"token": "A1b2C3d4" * 5},
    "namecom": {"username": "ada", "token": "0123456789abcdef0123456789abcdef01234567"},
    "openprovider": {"username": "ada@example.test", "password": "op-pass-123"},
    "nvidia": {"api_key": "nvapi-" + "Zz9_" * 10},
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_token_kind_is_stored_encrypted_and_shown_masked(
    owner_client: Client, user: User, kind: str
) -> None:
    response = add(owner_client, kind, **VALID[kind])

    assert response.status_code == 302
    credential = Credential.objects.get(owner=user, kind=kind)
    assert credential.unseal() == VALID[kind]
    page = owner_client.get(response["Location"]).content.decode()
    listing = owner_client.get(reverse("credential_list")).content.decode()
    for secret in VALID[kind].values():
        if len(secret) > 6:
            assert secret not in page and secret not in listing
    assert ActivityEvent.objects.filter(owner=user, action="credential.created").count() == 1


@pytest.mark.parametrize(
    ("algorithm", "kw", "shown"),
    [
        ("ssh-ed25519", {}, "Ed25519"),
        ("ecdsa-sha2-nistp256", {}, "ECDSA P-256"),
        ("ssh-rsa", {"key_size": 2048}, "RSA 2048"),
    ],
)
def test_ssh_keys_are_accepted_with_fingerprint_and_public_key(
    owner_client: Client, user: User, algorithm: str, kw: KeyOptions, shown: str
) -> None:
    pem = private_key(algorithm, **kw)
    response = add(owner_client, "ssh_key", private_key=pem)

    assert response.status_code == 302
    credential = Credential.objects.get(owner=user)
    page = owner_client.get(response["Location"]).content.decode()
    assert shown in page
    assert credential.metadata["fingerprint"].startswith("SHA256:")
    assert credential.metadata["public_key"].split()[0] == algorithm
    assert "PRIVATE KEY" not in page


def test_a_passphrase_protected_key_is_accepted_with_its_passphrase(
    owner_client: Client, user: User
) -> None:
    pem = private_key("ssh-ed25519", passphrase="open sesame")
    assert (
        add(owner_client, "ssh_key", private_key=pem, passphrase="open sesame").status_code == 302
    )
    assert Credential.objects.get(owner=user).unseal()["passphrase"] == "open sesame"


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        (
            "ssh_key",
            {"private_key": DAMAGED_PEM},
            "could not be read",
        ),
        (
            "ssh_key",
            {"private_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB public"},
            "not a private key",
        ),
        ("ssh_key", {"private_key": private_key("ssh-rsa", key_size=1024)}, "at least 2048"),
        (
            "ssh_key",
            {"private_key": private_key("ssh-ed25519", "right"), "passphrase": "wrong"},
            "passphrase does not open",
        ),
        ("ssh_key", {"private_key": private_key("ssh-ed25519", "right")}, "enter its passphrase"),
        ("cloudflare", {"token": ""}, "required"),
        ("cloudflare", {"token": "short"}, "Cloudflare API token is 40"),
        ("cloudflare", {"token": "x" * (1024 * 1024)}, "too long: at most 16 KB"),
        ("ssh_key", {"private_key": "A" * (1024 * 1024)}, "too long: at most 16 KB"),
        ("nvidia", {"api_key": "sk-not-nvidia-0000000000000000"}, "starts with nvapi-"),
        ("namecom", {"username": "ada", "token": "has spaces in it !!"}, "Name.com API token"),
        ("openprovider", {"username": "ada", "password": "line\nbreak"}, "one line"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(
    owner_client: Client, kind: str, fields: dict[str, str], message: str
) -> None:
    response = add(owner_client, kind, **fields)

    assert response.status_code == 200
    assert message.lower() in response.content.decode().lower().replace("&#x27;", "'")
    assert not Credential.objects.exists()
    assert not ActivityEvent.objects.exists()


def test_a_name_is_unique_per_owner(owner_client: Client, user: User, other_user: User) -> None:
    create_credential(other_user, "cloudflare", "main", VALID["cloudflare"])
    create_credential(user, "cloudflare", "main", VALID["cloudflare"])

    response = owner_client.post(
        reverse("credential_add"), {"kind": "cloudflare", "label": "main", **VALID["cloudflare"]}
    )
    assert "already have a credential with this name" in response.content.decode()
    assert Credential.objects.filter(owner=user).count() == 1


def test_the_panel_generates_an_ed25519_key_and_shows_only_the_public_half(
    owner_client: Client, user: User
) -> None:
    response = owner_client.post(reverse("credential_generate_ssh"), {"label": "deploy"})

    credential = Credential.objects.get(owner=user)
    page = owner_client.get(response["Location"]).content.decode()
    assert credential.metadata["public_key"].startswith("ssh-ed25519 ")
    assert credential.metadata["public_key"] in page
    assert "PRIVATE KEY" not in page
    assert "BEGIN OPENSSH PRIVATE KEY" in credential.unseal()["private_key"]


def test_rename_replace_and_delete(owner_client: Client, user: User) -> None:
    credential = create_credential(user, "cloudflare", "old", VALID["cloudflare"])

    owner_client.post(reverse("credential_rename", args=[credential.pk]), {"label": "new"})
    new_token = "Q" * 40
    owner_client.post(reverse("credential_replace", args=[credential.pk]), {"token": new_token})
    credential.refresh_from_db()
    assert credential.label == "new"
    assert credential.unseal() == {"token": new_token}
    assert credential.metadata["hint"] == "QQQQ"

    confirm = owner_client.get(reverse("credential_delete", args=[credential.pk]))
    assert b"cannot be undone" in confirm.content
    assert Credential.objects.filter(pk=credential.pk).exists()  # a GET deletes nothing
    owner_client.post(reverse("credential_delete", args=[credential.pk]))
    assert not Credential.objects.filter(pk=credential.pk).exists()


def test_another_user_gets_404_on_every_route(user: User, other_client: Client) -> None:
    credential = create_credential(user, "cloudflare", "mine", VALID["cloudflare"])
    before = (credential.label, credential.secret)
    routes = [
        ("get", "credential_detail", {}),
        ("post", "credential_rename", {"label": "stolen"}),
        ("get", "credential_replace", {}),
        ("post", "credential_replace", {"token": "Z" * 40}),
        ("get", "credential_delete", {}),
        ("post", "credential_delete", {}),
        ("post", "credential_test", {}),
    ]
    for method, name, data in routes:
        response = getattr(other_client, method)(reverse(name, args=[credential.pk]), data)
        assert response.status_code == 404, name

    credential.refresh_from_db()
    assert (credential.label, credential.secret) == before
    assert "mine" not in other_client.get(reverse("credential_list")).content.decode()


def test_a_credential_in_use_cannot_be_deleted_and_says_what_uses_it(
    owner_client: Client, user: User
) -> None:
    from mailpanel.servers.models import Server

    credential = create_credential(user, "ssh_password", "root pw", {"password": "pw-12345678"})
    Server.objects.create(
        owner=user,
        name="web1",
        host="203.0.113.7",
        credential=credential,
        mail_hostname="mail.example.test",
    )

    page = owner_client.get(reverse("credential_delete", args=[credential.pk])).content.decode()
    refused = owner_client.post(reverse("credential_delete", args=[credential.pk]))

    assert "cannot be deleted while it is in use" in page and "web1" in page
    assert refused.status_code == 409
    assert Credential.objects.filter(pk=credential.pk).exists()
