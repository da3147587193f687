"""Each job has one title for people, the same on every page: what it was started for."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.models import Job
from tests.dns.support import make_server

pytestmark = pytest.mark.django_db


def converge(user: User, **params: str) -> Job:
    return Job.objects.create(owner=user, kind="server.converge", target="vps1", params=params)


def test_the_job_list_shows_what_each_job_was_for_not_its_kind(
    owner_client: Client, user: User
) -> None:
    provisioning = converge(user, purpose="provision")
    converge(user, purpose="domain", domain="news.example.test")
    Job.objects.create(owner=user, kind="dns.apply", target="example.test")

    page = owner_client.get(reverse("job_list")).content.decode()

    assert "Provision the mail stack" in page
    assert "Start signing mail for news.example.test" in page
    assert "Apply DNS records" in page
    assert "server.converge" not in page and "dns.apply" not in page
    detail = owner_client.get(reverse("job_detail", args=[provisioning.pk])).content.decode()
    assert "<h1>Provision the mail stack <small>vps1</small></h1>" in detail


def test_the_dashboard_and_the_server_page_show_the_same_titles(
    owner_client: Client, user: User
) -> None:
    server = make_server(user)
    converge(user, server_id=str(server.pk), purpose="login_added", login="news@example.test")

    for url in (reverse("dashboard"), reverse("server_detail", args=[server.pk])):
        page = owner_client.get(url).content.decode()
        assert "Add the SMTP login news@example.test" in page, url
        assert "server.converge" not in page, url


def test_a_job_of_an_older_shape_falls_back_to_its_kinds_title(user: User) -> None:
    assert converge(user).title == "Provision the mail stack"  # from before purposes
    assert converge(user, purpose="domain").title == "Provision the mail stack"  # no domain
    assert Job(owner=user, kind="gone.kind").title == "gone.kind"


def test_a_purpose_the_kind_does_not_name_is_refused(user: User) -> None:
    with pytest.raises(ValueError, match="no purpose 'provisoin'"):
        start_job(user, "server.converge", params={"purpose": "provisoin"})
