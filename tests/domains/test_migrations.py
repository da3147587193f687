"""Upgrades: a migration that fills a new field from what the database already knows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model
from django.utils import timezone

BEFORE = [("domains", "0003_mta_sts_mode"), ("jobs", "0001_initial")]
AFTER = [("domains", "0004_signing_since")]


@pytest.mark.django_db(transaction=True)
def test_a_domain_is_signing_since_the_first_converge_queued_after_it_that_succeeded() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    owner = apps.get_model("accounts", "User").objects.create(email="old@example.test")
    key = apps.get_model("vault", "Credential").objects.create(
        owner=owner, kind="ssh_key", label="k", secret="v1:x:sealed", secret_key_id="x"
    )
    Server = apps.get_model("servers", "Server")
    SendingDomain = apps.get_model("domains", "SendingDomain")
    Job = apps.get_model("jobs", "Job")
    server = Server.objects.create(owner=owner, credential=key, name="old", host="192.0.2.1")
    other = Server.objects.create(owner=owner, credential=key, name="other", host="192.0.2.2")
    t0 = timezone.now() - timedelta(days=1)

    def domain(name: str, on: Model, added: datetime) -> object:
        made = SendingDomain.objects.create(owner=owner, server=on, name=name)
        SendingDomain.objects.filter(pk=made.pk).update(created_at=added)
        return made.pk

    def converge(on: Model, queued: datetime, state: str = "succeeded") -> None:
        job = Job.objects.create(
            owner=owner, kind="server.converge", state=state, target="x",
            params={"server_id": str(on.pk)}, finished_at=queued + timedelta(seconds=5),
        )  # fmt: skip
        Job.objects.filter(pk=job.pk).update(created_at=queued)

    signed = domain("signed.test", server, t0)
    during = domain("during.test", server, t0 + timedelta(hours=2))  # added while one ran
    failed = domain("failed.test", other, t0)
    converge(server, t0 + timedelta(hours=1))
    converge(server, t0 + timedelta(hours=1, minutes=59))  # queued before during.test
    converge(other, t0 + timedelta(hours=3), state="failed")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    after = executor.loader.project_state(AFTER).apps.get_model("domains", "SendingDomain")
    first = t0 + timedelta(hours=1, seconds=5)
    assert after.objects.get(pk=signed).signing_since == first
    assert after.objects.get(pk=during).signing_since is None
    assert after.objects.get(pk=failed).signing_since is None

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
