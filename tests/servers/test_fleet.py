"""Fleet runs: many servers, one action, per-server status; a failure stays its own row."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.jobs.models import JobState
from mailpanel.servers.models import FleetRun, ItemState, Server
from tests.helpers import drain
from tests.servers.conftest import pinned_server

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
