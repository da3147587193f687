"""Fleet runs: many servers, one action, per-server status; a failure stays its own row."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.jobs.models import JobState
from mailpanel.servers.fleet import start_fleet_run
from mailpanel.servers.mailstack import SIGNING_TABLE
from mailpanel.servers.models import FleetAction, FleetRun, ItemState, Server
from tests.dns.support import make_domain
from tests.helpers import drain
from tests.servers.conftest import pinned_server, ssh_root

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]


def test_a_fleet_health_check_reports_each_server_and_survives_a_dead_one(
    user: User, lab: Any, queue: Huey
) -> None:
    servers = [pinned_server(user, host) for host in lab.hosts]
    dead = pinned_server(user, lab.hosts[0], name="gone")
    Server.objects.filter(pk=dead.pk).update(host="10.200.0.254")
    client = Client()
    client.force_login(user)

    response = client.post(
        reverse("server_fleet_start"),
        {"action": "health", "server": [str(s.pk) for s in [*servers, dead]]},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page  # the table refreshes itself while the run goes
    drain(queue)

    run = FleetRun.objects.get(owner=user)
    assert run.job is not None and run.job.state == JobState.SUCCEEDED
    states = {item.server.name: item for item in run.items.select_related("server")}
    for server in servers:
        assert states[server.name].state == ItemState.OK, states[server.name].summary
        assert "queue" in states[server.name].summary
    assert states["gone"].state == ItemState.FAILED
    assert "10.200.0.254" in states["gone"].summary
    final = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in final and "Finished." in final


def test_a_fleet_cannot_include_another_users_server(
    user: User, other_user: User, lab: Any
) -> None:
    mine = pinned_server(user, lab.hosts[0])
    theirs = pinned_server(other_user, lab.hosts[1])
    client = Client()
    client.force_login(user)

    client.post(
        reverse("server_fleet_start"),
        {"action": "health", "server": [str(mine.pk), str(theirs.pk)]},
    )
    assert not FleetRun.objects.exists()


def test_a_fleet_converge_records_each_server_converged_and_signing_for_its_domains(
    user: User, lab_dns: Any, queue: Huey
) -> None:
    servers = [pinned_server(user, host) for host in lab_dns.hosts[:2]]
    domains = [make_domain(user, s, f"fleet{i}.sender.test") for i, s in enumerate(servers)]
    assert all(s.converged_at is None for s in servers)

    run = start_fleet_run(user, FleetAction.CONVERGE, servers)
    drain(queue)

    items = list(run.items.all())
    assert [item.state for item in items] == [ItemState.OK] * 2, [i.summary for i in items]
    for server, domain in zip(servers, domains, strict=True):
        server.refresh_from_db()
        domain.refresh_from_db()
        assert server.converged_at is not None
        assert domain.signing_since is not None and domain.signing_since >= server.converged_at
        table = ssh_root(lab_dns.hosts[servers.index(server)], "cat", SIGNING_TABLE)
        assert f"*@{domain.name} " in table
