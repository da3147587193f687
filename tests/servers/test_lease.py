"""Jobs that change one server take turns, even across worker processes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.servers.lease import release, try_take
from mailpanel.servers.models import Server
from mailpanel.vault.actions import create_credential

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(user: User) -> Server:
    key = create_credential(user, "ssh_password", "pw", {"password": "server-pass"})
    return Server.objects.create(
        owner=user, name="s", host="203.0.113.9", credential=key, mail_hostname="mail.example.test"
    )


def test_a_second_job_waits_until_the_first_releases(server: Server) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    assert try_take(server.pk, first)
    assert try_take(server.pk, first)  # the holder may take it again
    assert not try_take(server.pk, second)
    release(server.pk, second)  # only the holder releases
    assert not try_take(server.pk, second)
    release(server.pk, first)
    assert try_take(server.pk, second)


def test_the_lease_of_a_dead_job_expires(server: Server) -> None:
    dead, alive = uuid.uuid4(), uuid.uuid4()
    assert try_take(server.pk, dead)
    Server.objects.filter(pk=server.pk).update(changing_until=timezone.now() - timedelta(seconds=1))

    assert try_take(server.pk, alive)
    server.refresh_from_db()
    assert server.changing_job == alive
