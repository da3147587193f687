"""Jobs that change one server take turns, even across worker processes."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.context import JobContext
from mailpanel.servers.lease import after_changes, is_free, release, try_take
from mailpanel.servers.models import Server
from mailpanel.vault.actions import create_credential

pytestmark = pytest.mark.django_db(transaction=True)  # a waiting thread reads the rows


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


def test_a_job_that_only_reads_waits_for_a_change_without_holding_the_server(
    user: User, server: Server
) -> None:
    reader = JobContext(start_job(user, "selftest", target="s"))
    other = uuid.uuid4()
    assert try_take(server.pk, other)
    assert not is_free(server.pk, reader.job.pk)
    server.refresh_from_db()

    waiter = threading.Thread(target=after_changes, args=(server, reader))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # still waiting for the change to finish
    release(server.pk, other)
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    server.refresh_from_db()
    assert server.changing_job is None  # it waited; it did not take the server
    texts = list(reader.job.log_lines.values_list("text", flat=True))
    assert texts == ["Another job is changing this server; waiting for it to finish."]
