from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailpanel.accounts.models import User
from mailpanel.cli import main as cli_main
from mailpanel.vault.actions import create_credential
from mailpanel.vault.keyring import VaultError, get_keyring
from mailpanel.vault.models import Credential
from mailpanel.vault.rotation import add_key, key_usage, reseal_all, retire_key


def fill(owner: User, n: int, start: int = 0) -> dict[str, str]:
    tokens = {}
    for i in range(start, start + n):
        token = f"tok{i:02d}" + "x" * 36
        credential = create_credential(owner, "cloudflare", f"cf {i}", {"token": token})
        tokens[str(credential.pk)] = token
    return tokens


def all_open(tokens: dict[str, str]) -> bool:
    return all(c.unseal()["token"] == tokens[str(c.pk)] for c in Credential.objects.all())


def updates_per_table(queries: CaptureQueriesContext) -> Counter[str]:
    tables = (q["sql"].split('"')[1] for q in queries if q["sql"].startswith("UPDATE "))
    return Counter(tables)


def test_rotation_rewraps_one_data_key_per_user_and_writes_no_secret(
    fresh_keyring: Path, user: User, other_user: User, third_user: User
) -> None:
    old = get_keyring().active_id
    tokens = fill(user, 4) | fill(other_user, 3, start=4) | fill(third_user, 2, start=7)
    new = add_key()

    with CaptureQueriesContext(connection) as queries:
        result = reseal_all(batch_size=2)

    assert (result.resealed, result.remaining) == (3, 0)  # 3 data keys, not 9 secrets
    assert updates_per_table(queries) == {"vault_datakey": 3}
    assert key_usage() == {new: 3}
    assert all_open(tokens)
    retire_key(old)
    assert get_keyring().key_ids == [new]
    assert all_open(tokens)


def test_rotation_across_three_keys_survives_an_interruption(
    fresh_keyring: Path, user: User, other_user: User, third_user: User
) -> None:
    first = get_keyring().active_id
    tokens = fill(user, 2) | fill(other_user, 2, start=2) | fill(third_user, 2, start=4)

    second = add_key()
    partial = reseal_all(batch_size=2, max_batches=1)  # stopped after one batch
    assert (partial.resealed, partial.remaining) == (2, 1)
    assert key_usage() == {first: 1, second: 2}
    assert all_open(tokens)  # half-rotated: everything still opens

    assert reseal_all(batch_size=2).resealed == 1  # the resume
    assert key_usage() == {second: 3}

    third = add_key()
    reseal_all(batch_size=1)
    assert key_usage() == {third: 3}
    assert get_keyring().key_ids == [first, second, third]
    assert all_open(tokens)


def test_rotation_moves_legacy_secrets_onto_data_keys(fresh_keyring: Path, user: User) -> None:
    tokens = fill(user, 3)
    legacy = Credential.objects.order_by("pk").first()
    assert legacy is not None
    old = get_keyring().active_id
    old_secret = get_keyring().encrypt(b'{"token":"legacy"}', legacy._place())  # as before v2
    Credential.objects.filter(pk=legacy.pk).update(secret=old_secret, secret_key_id=old)
    tokens[str(legacy.pk)] = "legacy"
    assert key_usage() == {old: 2}  # the data key and the legacy secret
    new = add_key()

    assert reseal_all().resealed == 2
    row = Credential.objects.get(pk=legacy.pk)
    assert row.secret.startswith("v2:dk:") and row.secret_key_id == "dk"
    assert key_usage() == {new: 1}
    assert all_open(tokens)


def test_a_key_is_retired_only_when_it_protects_nothing(
    fresh_keyring: Path, user: User, other_user: User
) -> None:
    old = get_keyring().active_id
    fill(user, 2)
    fill(other_user, 1, start=2)
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
    fresh_keyring: Path, user: User, other_user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = fill(user, 3) | fill(other_user, 1, start=3)
    old = get_keyring().active_id

    assert cli_main(["vault", "rotate", "--batch-size", "1"]) == 0
    out = capsys.readouterr().out
    new = get_keyring().active_id
    assert f"added key {new}" in out and "re-encrypted 2/2" in out

    assert cli_main(["vault", "status"]) == 0
    status = capsys.readouterr().out
    assert f"{new}" in status and "2  active" in status
    assert f"{old}" in status and "0  old" in status
    assert "data keys: 2 live, 0 shredded" in status
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
