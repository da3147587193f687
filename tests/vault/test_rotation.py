from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import call_command

from mailpanel.accounts.models import User
from mailpanel.cli import main as cli_main
from mailpanel.vault.actions import create_credential
from mailpanel.vault.keyring import VaultError, get_keyring
from mailpanel.vault.models import Credential
from mailpanel.vault.rotation import add_key, key_usage, reseal_all, retire_key


def fill(owner: User, n: int) -> dict[str, str]:
    tokens = {}
    for i in range(n):
        token = f"tok{i:02d}" + "x" * 36
        credential = create_credential(owner, "cloudflare", f"cf {i}", {"token": token})
        tokens[str(credential.pk)] = token
    return tokens


def all_open(tokens: dict[str, str]) -> bool:
    return all(c.unseal()["token"] == tokens[str(c.pk)] for c in Credential.objects.all())


def test_rotation_across_three_keys_survives_an_interruption(
    fresh_keyring: Path, user: User
) -> None:
    first = get_keyring().active_id
    tokens = fill(user, 7)

    second = add_key()
    partial = reseal_all(batch_size=3, max_batches=1)  # stopped after one batch
    assert (partial.resealed, partial.remaining) == (3, 4)
    assert key_usage() == {first: 4, second: 3}
    assert all_open(tokens)  # half-rotated: everything still opens

    reseal_all(batch_size=3)  # the resume
    assert key_usage() == {second: 7}

    third = add_key()
    reseal_all(batch_size=2)
    assert key_usage() == {third: 7}
    assert get_keyring().key_ids == [first, second, third]
    assert all_open(tokens)


def test_a_key_is_retired_only_when_it_protects_nothing(fresh_keyring: Path, user: User) -> None:
    old = get_keyring().active_id
    fill(user, 2)
    add_key()

    with pytest.raises(VaultError, match="still protects 2 secret"):
        retire_key(old)

    reseal_all()
    retire_key(old)
    assert old not in get_keyring().key_ids
    assert old not in fresh_keyring.read_text()


def test_the_active_key_cannot_be_retired(fresh_keyring: Path) -> None:
    with pytest.raises(VaultError, match="active key"):
        retire_key(get_keyring().active_id)


def test_vault_commands_rotate_and_report(
    fresh_keyring: Path, user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = fill(user, 3)
    old = get_keyring().active_id

    assert cli_main(["vault", "rotate", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    new = get_keyring().active_id
    assert f"added key {new}" in out and "re-encrypted 3/3" in out

    assert cli_main(["vault", "status"]) == 0
    status = capsys.readouterr().out
    assert f"{new}" in status and "3  active" in status
    assert f"{old}" in status and "0  old" in status
    assert all_open(tokens)
    call_command("check")  # the panel keeps working after rotation


def test_rotation_reseals_two_factor_secrets_before_their_key_can_go(
    fresh_keyring: Path, user: User
) -> None:
    secret = pyotp.random_base32()
    totp = TOTP.activate(user, secret).instance
    codes = RecoveryCodes.activate(user)
    before = codes.get_unused_codes()
    old = get_keyring().active_id
    new = add_key()

    assert key_usage() == {old: 2}
    with pytest.raises(VaultError, match="still protects 2 secret"):
        retire_key(old)
    assert reseal_all().resealed == 2
    retire_key(old)

    assert key_usage() == {new: 2}
    totp.refresh_from_db()
    assert TOTP(totp).validate_code(pyotp.TOTP(secret).now())
    assert (
        RecoveryCodes(Authenticator.objects.get(pk=codes.instance.pk)).get_unused_codes() == before
    )
