"""Upgrades: a migration that fills a new field from what the database already knows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("domains", "0003_mta_sts_mode")]
AFTER = [("domains", "0004_signing_since")]


@pytest.mark.django_db(transaction=True)
def test_domains_older_than_their_servers_last_converge_are_signing_since_it() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User = apps.get_model("accounts", "User")
    Server = apps.get_model("servers", "Server")
    SendingDomain = apps.get_model("domains", "SendingDomain")
    owner = User.objects.create(email="old@example.test")
    key = apps.get_model("vault", "Credential").objects.create(
        owner=owner, kind="ssh_key", label="k", secret="v1:x:sealed", secret_key_id="x"
    )
    converged = timezone.now()
    server = Server.objects.create(
        owner=owner, credential=key, name="old", host="192.0.2.1", converged_at=converged
    )
    fresh = Server.objects.create(owner=owner, credential=key, name="fresh", host="192.0.2.2")
    signed = SendingDomain.objects.create(owner=owner, server=server, name="signed.test")
    newer = SendingDomain.objects.create(owner=owner, server=server, name="newer.test")
    never = SendingDomain.objects.create(owner=owner, server=fresh, name="never.test")
    SendingDomain.objects.filter(pk=signed.pk).update(created_at=converged - timedelta(hours=1))
    SendingDomain.objects.filter(pk=newer.pk).update(created_at=converged + timedelta(hours=1))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    after = apps.get_model("domains", "SendingDomain").objects
    assert after.get(pk=signed.pk).signing_since == converged
    assert after.get(pk=newer.pk).signing_since is None  # added after that converge
    assert after.get(pk=never.pk).signing_since is None

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
