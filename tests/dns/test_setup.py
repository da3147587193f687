"""The guided setup resumes from what exists: each step is done when its result is there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.dns.models import DnsPlan, PlanState
from mailpanel.dns.setup import state_of
from mailpanel.jobs.models import Job, JobState
from mailpanel.servers.models import HostKeyState
from tests.dns.conftest import Fakes
from tests.dns.support import linked, make_domain, make_server, plan_and_apply
from tests.helpers import drain


def progress(server: object) -> list[str]:
    return [s.key for s in state_of(server).steps if s.done]  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_the_steps_follow_the_database_and_resume_where_they_stopped(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    server = make_server(user)
    server.host_key_state = HostKeyState.UNCONFIRMED
    server.save()
    assert progress(server) == ["server"]
    server.host_key_state = HostKeyState.CONFIRMED
    server.save()
    assert state_of(server).current.key == "provision"  # type: ignore[union-attr]
    server.converged_at = server.created_at
    server.save()
    domain = make_domain(user, server, "news.example.test")
    assert state_of(server).current.key == "domain"  # type: ignore[union-attr]
    url = reverse("dns_setup_server", args=[server.pk])
    waiting = owner_client.get(url).content.decode()
    assert "data-waiting-for-signing" in waiting and "Converge again" in waiting
    owner_client.post(url, {"step": "sign"})
    converge = Job.objects.get(kind="server.converge")
    assert converge.params["purpose"] == "domain" and converge.title == (
        "Start signing mail for news.example.test"
    )
    assert "Converge again" not in owner_client.get(url).content.decode()  # it is running
    converge.state = JobState.FAILED
    converge.save()
    assert "Converge again" in owner_client.get(url).content.decode()
    domain.signing_since = server.created_at  # what a converge that succeeded records
    domain.save()
    assert state_of(server).current.key == "zone"  # type: ignore[union-attr]
    page = owner_client.get(reverse("dns_setup_server", args=[server.pk])).content.decode()
    assert 'data-current="zone"' in page and "Connect a DNS account" in page

    linked(user, "cloudflare", domain, queue, "example.test")
    assert state_of(server).current.key == "plan"  # type: ignore[union-attr]
    plan = plan_and_apply(domain, queue)
    assert plan.state == PlanState.APPLIED
    assert state_of(server).current.key == "test"  # type: ignore[union-attr]

    response = owner_client.post(
        reverse("dns_setup_server", args=[server.pk]),
        {"step": "test", "recipient": "me@receiver.test"},
    )
    assert response.status_code == 302
    job = Job.objects.get(kind="server.testmail")
    assert job.params["sender"] == "postmaster@news.example.test"
    job.state = JobState.SUCCEEDED
    job.save()
    assert state_of(server).current is None
    done = owner_client.get(reverse("dns_setup_server", args=[server.pk])).content.decode()
    assert "data-setup-done" in done


@pytest.mark.django_db
def test_a_plan_waiting_for_review_shows_its_table_and_the_apply_button(
    user: User, owner_client: Client
) -> None:
    server = make_server(user, converged=True)
    domain = make_domain(user, server, "news.example.test", signing_since=server.converged_at)
    from mailpanel.dns.models import DnsAccount, DomainZone
    from mailpanel.vault.actions import create_credential

    cred = create_credential(user, "cloudflare", "cf", {"token": "x" * 40})
    account = DnsAccount.objects.create(
        owner=user, credential=cred, label="cf", provider="cloudflare"
    )
    DomainZone.objects.create(
        domain=domain, owner=user, account=account, zone_id="z", zone_name="example.test"
    )
    content = {
        "changes": [
            {
                "action": "create",
                "kind": "spf",
                "before": None,
                "after": {
                    "name": "news.example.test",
                    "type": "TXT",
                    "content": "v=spf1 -all",
                    "ttl": 300,
                    "priority": None,
                },
            }
        ],
        "refusals": [],
        "notes": ["a note"],
    }
    DnsPlan.objects.create(
        owner=user,
        domain=domain,
        zone_name="example.test",
        state=PlanState.PLANNED,
        content=content,
    )

    page = owner_client.get(reverse("dns_setup_server", args=[server.pk])).content.decode()

    assert 'data-current="plan"' in page and 'data-action="create"' in page
    assert 'name="step" value="apply"' in page and "a note" in page


@pytest.mark.django_db
def test_the_setup_starts_by_adding_a_server_and_lists_setups_to_resume(
    user: User, owner_client: Client
) -> None:
    from mailpanel.servers.models import Server
    from mailpanel.vault.actions import generate_ssh_key

    key = generate_ssh_key(user, "my key")
    response = owner_client.post(
        reverse("dns_setup"),
        {
            "name": "vps",
            "host": "192.0.2.40",
            "port": 22,
            "username": "root",
            "credential": key.pk,
            "mail_hostname": "mail.example.test",
            "tls_mode": "self_signed",
        },
    )

    server = Server.objects.get(owner=user, name="vps")
    assert response["Location"] == reverse("dns_setup_server", args=[server.pk])
    page = owner_client.get(reverse("dns_setup")).content.decode()
    assert "next: Confirm its host key" in page


@pytest.mark.django_db
def test_planning_says_what_is_missing_and_starts_nothing(user: User, owner_client: Client) -> None:
    server = make_server(user)
    url = reverse("dns_setup_server", args=[server.pk])
    early = owner_client.post(url, {"step": "plan", "ttl": "3600"}, follow=True).content.decode()
    assert "Add the sending domain first." in early

    make_domain(user, server, "news.example.test")
    bad = owner_client.post(url, {"step": "plan", "ttl": "9999999"}, follow=True).content.decode()
    assert "TTL: Ensure this value is less than or equal to 604800." in bad
    assert not DnsPlan.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_records_not_answered_yet_can_be_checked_again_from_the_setup(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    server = make_server(user, converged=True)
    domain = make_domain(user, server, "news.example.test", signing_since=server.converged_at)
    linked(user, "cloudflare", domain, queue, "example.test")
    plan = plan_and_apply(domain, queue)
    plan.result[0]["visible"] = False  # as an apply that timed out on one record leaves it
    plan.save(update_fields=["result"])
    url = reverse("dns_setup_server", args=[server.pk])
    page = owner_client.get(url).content.decode()
    assert 'data-current="verify"' in page and 'name="step" value="verify"' in page

    owner_client.post(url, {"step": "verify"})
    drain(queue)
    assert Job.objects.filter(kind="dns.verify", state=JobState.SUCCEEDED).count() == 1
    assert state_of(server).current.key == "test"  # type: ignore[union-attr]


@pytest.mark.django_db
def test_the_provision_log_opens_the_provisioning_even_when_a_domain_converge_is_newer(
    user: User, owner_client: Client
) -> None:
    server = make_server(user, converged=True)
    make_domain(user, server, "news.example.test")  # verified, the server not signing yet
    params = {"server_id": str(server.pk)}
    provisioning = Job.objects.create(
        owner=user, kind="server.converge", params={**params, "purpose": "provision"}
    )
    for_domain = Job.objects.create(
        owner=user,
        kind="server.converge",
        params={**params, "purpose": "domain", "domain": "news.example.test"},
    )
    Job.objects.filter(pk=provisioning.pk).update(created_at=timezone.now() - timedelta(hours=1))

    page = owner_client.get(reverse("dns_setup_server", args=[server.pk])).content.decode()

    steps = {s.key: s for s in state_of(server).steps}
    assert steps["provision"].job == provisioning and steps["domain"].job == for_domain
    provision_li = page.split('data-step="provision"', 1)[1].split("</li>", 1)[0]
    domain_li = page.split('data-step="domain"', 1)[1].split("</li>", 1)[0]
    assert reverse("job_detail", args=[provisioning.pk]) in provision_li
    assert 'title="Provision the mail stack"' in provision_li
    assert reverse("job_detail", args=[for_domain.pk]) in domain_li
    assert "Start signing mail for news.example.test:" in page  # the current step's job
