"""Server actions from the server page: each form is checked before a job starts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.jobs.models import Job
from tests.dns.support import make_domain, make_server

pytestmark = pytest.mark.django_db


def action(server_id: object, name: str) -> str:
    return reverse("server_action", args=[server_id, name])


def test_the_mail_log_takes_a_bounded_line_count(user: User, owner_client: Client) -> None:
    server = make_server(user)
    errors = {
        "0": "Ensure this value is greater than or equal to 1.",
        "2001": "Ensure this value is less than or equal to 2000.",
        "many": "Enter a whole number.",
    }
    for bad, error in errors.items():
        shown = owner_client.post(action(server.pk, "maillog"), {"lines": bad}, follow=True)
        assert error in shown.content.decode()
    assert not Job.objects.exists()

    owner_client.post(action(server.pk, "maillog"), {"lines": "30", "filter": "postfix"})
    job = Job.objects.get()
    assert job.kind == "server.maillog"
    assert (job.params["lines"], job.params["filter"]) == (30, "postfix")


def test_a_test_message_comes_from_a_domain_of_this_server(
    user: User, owner_client: Client
) -> None:
    server = make_server(user)
    make_domain(user, server, "news.example.test")
    refused = owner_client.post(
        action(server.pk, "testmail"),
        {"sender": "me@elsewhere.test", "recipient": "you@receiver.test"},
        follow=True,
    )
    assert "The sender must be at a domain set up on this server." in refused.content.decode()
    assert not Job.objects.exists()

    make_domain(user, server, "xn--bcher-kva.test")  # bücher.test
    owner_client.post(
        action(server.pk, "testmail"),
        {"sender": "news@bücher.test", "recipient": "you@receiver.test"},
    )
    assert Job.objects.get().params["sender"] == "news@xn--bcher-kva.test"  # as OpenDKIM has it


def test_another_users_server_is_not_found(other_user: User, owner_client: Client) -> None:
    theirs = make_server(other_user)
    assert owner_client.post(action(theirs.pk, "maillog"), {"lines": "5"}).status_code == 404
    assert not Job.objects.exists()
