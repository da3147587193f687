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


def test_reading_the_domains_mail_takes_a_bounded_count(user: User, owner_client: Client) -> None:
    server = make_server(user)
    page = owner_client.get(reverse("server_detail", args=[server.pk])).content.decode()
    assert "Mail to the domains" in page

    errors = {
        "0": "Ensure this value is greater than or equal to 1.",
        "201": "Ensure this value is less than or equal to 200.",
        "many": "Enter a whole number.",
    }
    for bad, error in errors.items():
        shown = owner_client.post(action(server.pk, "mailbox"), {"count": bad}, follow=True)
        assert error in shown.content.decode()
    assert not Job.objects.exists()

    owner_client.post(action(server.pk, "mailbox"), {"count": "30"})
    job = Job.objects.get()
    assert (job.kind, job.params["count"], job.target) == ("server.mailbox", 30, server.name)


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


def test_another_users_server_is_not_found(other_user: User, owner_client: Client) -> None:
    theirs = make_server(other_user)
    assert owner_client.post(action(theirs.pk, "mailbox"), {"count": "5"}).status_code == 404
    assert not Job.objects.exists()
