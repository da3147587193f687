"""Upgrades: two-factor secrets stored in the clear are sealed in place, and back."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from mailpanel.accounts.mfa_secrets import is_sealed, seal, unseal

BEFORE = [("accounts", "0001_initial"), ("mfa", "0003_authenticator_type_uniq")]
AFTER = [("accounts", "0002_seal_mfa_secrets")]
TOTP_KEY = pyotp.random_base32()
SEED = "ab" * 40


def migrate(targets: list[tuple[str, str]]) -> Any:
    """The app registry as it stands after migrating to ``targets``."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_clear_secrets_are_sealed_once_and_opened_again_on_the_way_back() -> None:
    apps = migrate(BEFORE)
    old = apps.get_model("mfa", "Authenticator")
    owner = apps.get_model("accounts", "User").objects.create(email="old@example.test")
    later = apps.get_model("accounts", "User").objects.create(email="later@example.test")
    totp = old.objects.create(user=owner, type="totp", data={"secret": TOTP_KEY})
    codes = old.objects.create(
        user=owner,
        type="recovery_codes",
        data={"seed": SEED, "used_mask": 2, "migrated_codes": ["12345678", "87654321"]},
    )
    sealed_already = seal(pyotp.random_base32())
    other = old.objects.create(user=later, type="totp", data={"secret": sealed_already})

    new = migrate(AFTER).get_model("mfa", "Authenticator")
    sealed = {row.pk: row.data for row in new.objects.all()}
    assert is_sealed(sealed[totp.pk]["secret"]) and TOTP_KEY not in str(sealed[totp.pk])
    assert unseal(sealed[totp.pk]["secret"]) == TOTP_KEY
    assert unseal(sealed[codes.pk]["seed"]) == SEED and sealed[codes.pk]["used_mask"] == 2
    assert [unseal(c) for c in sealed[codes.pk]["migrated_codes"]] == ["12345678", "87654321"]
    assert sealed[other.pk]["secret"] == sealed_already  # not sealed twice

    opened = {
        row.pk: row.data for row in migrate(BEFORE).get_model("mfa", "Authenticator").objects.all()
    }
    assert opened[totp.pk] == {"secret": TOTP_KEY}
    assert opened[codes.pk]["migrated_codes"] == ["12345678", "87654321"]
    assert opened[other.pk]["secret"] == unseal(sealed_already)

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    current = Authenticator.objects.get(pk=totp.pk)
    assert is_sealed(current.data["secret"])
    assert current.wrap().validate_code(pyotp.TOTP(TOTP_KEY).now())
