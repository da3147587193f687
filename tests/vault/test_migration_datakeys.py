"""Upgrades: secrets sealed under a master key move onto their owners' data keys, and back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from mailpanel.domains.models import DkimKey
from mailpanel.vault.keyring import get_keyring, key_id_of
from mailpanel.vault.models import Credential

BEFORE = [("vault", "0001_initial"), ("domains", "0005_verified")]
KEYS_ONLY = [("vault", "0002_datakey")]
AFTER = [("vault", "0003_secrets_under_data_keys")]
BROKEN = "v1:x:sealed"  # its master key is long gone


def migrate(targets: list[tuple[str, str]]) -> Any:
    """The app registry as it stands after migrating to ``targets``."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def seal_v1(row: Any, payload: dict[str, str]) -> None:
    """Seal as the vault did before data keys: the master key, the same place."""
    place = f"{row._meta.label_lower}|secret|{row.pk}|{row.owner_id}"
    row.secret = get_keyring().encrypt(json.dumps(payload).encode(), place)
    row.secret_key_id = key_id_of(row.secret)
    row.save()


def legacy_rows(apps: Any) -> dict[str, Any]:
    User, Credential = apps.get_model("accounts", "User"), apps.get_model("vault", "Credential")
    ada = User.objects.create(email="ada@example.test")
    bob = User.objects.create(email="bob@example.test")
    rows = {
        "ada_cf": Credential(owner=ada, kind="cloudflare", label="cf"),
        "ada_ssh": Credential(owner=ada, kind="ssh_password", label="ssh"),
        "bob_cf": Credential(owner=bob, kind="cloudflare", label="cf"),
    }
    for name, row in rows.items():
        seal_v1(row, {"token": name})
    server = apps.get_model("servers", "Server").objects.create(
        owner=bob, credential=rows["bob_cf"], name="mx", host="192.0.2.1"
    )
    domain = apps.get_model("domains", "SendingDomain").objects.create(
        owner=bob, server=server, name="bob.test"
    )
    dkim = apps.get_model("domains", "DkimKey")(
        owner=bob, domain=domain, selector="s1", public_key="AAAA"
    )
    seal_v1(dkim, {"private_key": "bob_dkim"})
    rows["bob_dkim"] = dkim
    rows["broken"] = Credential.objects.create(
        owner=bob, kind="cloudflare", label="broken", secret=BROKEN, secret_key_id="x"
    )
    return rows


def current(name: str, row: Any) -> Credential | DkimKey:
    if name == "bob_dkim":
        return DkimKey.objects.get(pk=row.pk)
    return Credential.objects.get(pk=row.pk)


def expected(name: str) -> dict[str, str]:
    return {"private_key": name} if name == "bob_dkim" else {"token": name}


@pytest.mark.django_db(transaction=True)
def test_legacy_secrets_move_onto_one_data_key_per_owner_and_back() -> None:
    rows = legacy_rows(migrate(BEFORE))
    sealed = {name: row for name, row in rows.items() if name != "broken"}

    apps = migrate(AFTER)
    assert apps.get_model("vault", "DataKey").objects.count() == 2  # ada and bob
    for name, row in sealed.items():
        now = current(name, row)
        assert now.secret.startswith("v2:dk:") and now.secret_key_id == "dk"
        assert now.unseal() == expected(name)
    broken = Credential.objects.get(pk=rows["broken"].pk)  # unreadable before and after
    assert (broken.secret, broken.secret_key_id) == (BROKEN, "x")

    migrate(KEYS_ONLY)
    for name, row in sealed.items():
        now = current(name, row)
        assert now.secret.startswith(f"v1:{get_keyring().active_id}:")
        assert now.secret_key_id == get_keyring().active_id
        assert now.unseal() == expected(name)  # the legacy format still opens

    migrate(BEFORE)  # and the data keys' table goes
    migrate(AFTER)
    assert all(current(name, row).unseal() == expected(name) for name, row in sealed.items())
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
