from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailpanel.accounts.models import User
from mailpanel.vault.keyring import (
    DecryptionError,
    Keyring,
    VaultError,
    new_master_key,
    parse_keys,
)
from mailpanel.vault.models import Credential

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cf" + "A" * 38


def make(owner: User, label: str = "cf") -> Credential:
    from mailpanel.vault.actions import create_credential

    return create_credential(owner, "cloudflare", label, {"token": TOKEN})


def test_a_secret_round_trips_and_is_not_stored_in_the_clear(user: User) -> None:
    credential = make(user)

    stored = Credential.objects.values_list("secret", flat=True).get(pk=credential.pk)
    assert TOKEN not in stored
    assert stored.startswith("v2:dk:") and credential.secret_key_id == "dk"
    assert Credential.objects.get(pk=credential.pk).unseal() == {"token": TOKEN}


def test_each_encryption_uses_a_fresh_nonce() -> None:
    ring = Keyring([new_master_key()])
    assert ring.encrypt(b"same", "place") != ring.encrypt(b"same", "place")


def test_a_flipped_byte_does_not_decrypt(user: User) -> None:
    credential = make(user)
    head, body = credential.secret.rsplit(":", 1)
    flipped = body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    Credential.objects.filter(pk=credential.pk).update(secret=f"{head}:{flipped}")

    with pytest.raises(DecryptionError, match="altered or belongs to another record"):
        Credential.objects.get(pk=credential.pk).unseal()


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(user: User) -> None:
    first, second = make(user, "one"), make(user, "two")
    Credential.objects.filter(pk=second.pk).update(secret=first.secret)

    with pytest.raises(DecryptionError):
        Credential.objects.get(pk=second.pk).unseal()


def test_a_ciphertext_moved_to_another_users_row_does_not_decrypt(
    user: User, other_user: User
) -> None:
    mine, theirs = make(user), make(other_user)
    Credential.objects.filter(pk=theirs.pk).update(secret=mine.secret)

    with pytest.raises(DecryptionError):
        Credential.objects.get(pk=theirs.pk).unseal()


def test_a_row_handed_to_another_owner_does_not_decrypt(user: User, other_user: User) -> None:
    mine = make(user)
    Credential.objects.filter(pk=mine.pk).update(owner=other_user)

    with pytest.raises(DecryptionError):
        Credential.objects.get(pk=mine.pk).unseal()


def test_an_unknown_key_id_says_which_key_is_missing() -> None:
    ring, other = Keyring([new_master_key()]), Keyring([new_master_key()])
    token = other.encrypt(b"x", "p")

    with pytest.raises(DecryptionError, match=f"vault key {other.active_id} is not configured"):
        ring.decrypt(token, "p")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no vault key found"),
        ("nocolon", "<id>:<base64 key>"),
        ("k1:c2hvcnQ", "must be 256 bits"),
        ("k1:!!!!", "not valid base64"),
        ("bad id:" + "A" * 43, "<id>:<base64 key>"),
    ],
)
def test_malformed_key_material_is_refused(text: str, message: str) -> None:
    with pytest.raises(VaultError, match=message):
        parse_keys(text, "MAILPANEL_VAULT_KEYS")


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILPANEL_")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "mailpanel.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "MAILPANEL_MODE": "production",
    "MAILPANEL_SECRET_KEY": "p" * 60,
    "MAILPANEL_ALLOWED_HOSTS": "panel.example.test",
    "MAILPANEL_HTTPS": "true",
    "MAILPANEL_SMTP_HOST": "smtp.example.test",
    "MAILPANEL_MAIL_FROM": "MailPanel Pro <panel@example.test>",
}


def test_production_refuses_to_start_without_vault_keys(tmp_path: Path) -> None:
    result = run_settings({**PRODUCTION, "MAILPANEL_DATA_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert "MAILPANEL_VAULT_KEYS" in result.stderr
    assert not (tmp_path / "vault-keys").exists()


def test_production_starts_with_vault_keys(tmp_path: Path) -> None:
    from mailpanel.vault.keyring import format_key_line

    keys = format_key_line(new_master_key())
    result = run_settings(
        {**PRODUCTION, "MAILPANEL_DATA_DIR": str(tmp_path), "MAILPANEL_VAULT_KEYS": keys}
    )
    assert result.returncode == 0, result.stderr


def test_embedded_mode_creates_a_private_key_file(fresh_keyring: Path) -> None:
    from mailpanel.vault.keyring import get_keyring

    ring = get_keyring()
    assert fresh_keyring.stat().st_mode & 0o777 == 0o600
    assert ring.key_ids == [ring.active_id]
