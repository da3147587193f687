"""The DNS pages through the real views: connect, link, plan, review, apply; owners only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.dns.models import DnsAccount, DnsPlan, PlanState
from mailpanel.pages.views import COMING_SOON
from mailpanel.vault.actions import create_credential
from tests.dns.conftest import CF_TOKEN, Fakes
from tests.dns.support import connect, linked, make_domain, make_server, plan_and_apply
from tests.helpers import drain


@pytest.mark.django_db(transaction=True)
def test_a_user_connects_links_plans_reviews_and_applies_from_the_pages(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    credential = create_credential(user, "cloudflare", "cf token", {"token": CF_TOKEN})

    added = owner_client.post(
        reverse("dns_account_add"), {"credential": credential.pk, "label": "Cloudflare work"}
    )
    assert added.status_code == 302
    drain(queue)
    account = DnsAccount.objects.get(owner=user)
    detail = owner_client.get(added["Location"]).content.decode()
    assert "example.test" in detail and "shop.test" in detail and "data-job-events" in detail
    owner_client.post(reverse("dns_domain_link", args=[domain.pk]), {"automatic": "1"})
    page = owner_client.get(reverse("dns_domain", args=[domain.pk])).content.decode()
    assert "Published in <strong>example.test</strong> at Cloudflare work" in page

    started = owner_client.post(reverse("dns_plan_start", args=[domain.pk]), {"ttl": "3600"})
    plan = DnsPlan.objects.get(domain=domain)
    assert started["Location"] == reverse("dns_plan", args=[plan.pk])
    waiting = owner_client.get(started["Location"]).content.decode()
    assert "dns_job_watch" not in waiting and f"/dns/jobs/{plan.plan_job_id}/watch/" in waiting
    drain(queue)
    review = owner_client.get(started["Location"]).content.decode()
    assert review.count('data-action="create"') == 6 and "Apply these changes" in review
    assert "_dmarc.news.example.test" in review and "MX: where replies and bounces go" in review

    owner_client.post(reverse("dns_plan_apply", args=[plan.pk]))
    drain(queue)
    plan.refresh_from_db()
    done = owner_client.get(started["Location"]).content.decode()
    assert plan.state == PlanState.APPLIED and "In DNS now" in done
    assert done.count(">yes<") == 6
    assert account.pk and CF_TOKEN not in detail + page + review + done


@pytest.mark.django_db
def test_the_job_watch_reloads_the_page_only_when_the_job_ended(
    user: User, owner_client: Client
) -> None:
    from mailpanel.jobs.models import Job, JobState

    job = Job.objects.create(owner=user, kind="dns.plan", state=JobState.RUNNING)
    url = reverse("dns_job_watch", args=[job.pk])
    assert "HX-Refresh" not in owner_client.get(url)
    job.state = JobState.SUCCEEDED
    job.save()
    assert owner_client.get(url)["HX-Refresh"] == "true"


@pytest.mark.django_db
def test_the_dns_section_is_real_and_in_the_menu(user: User, owner_client: Client) -> None:
    assert "dns" not in COMING_SOON
    page = owner_client.get(reverse("dns")).content.decode()
    assert "Provider accounts" in page and "Coming soon" not in page
    assert f'href="{reverse("dns")}" aria-current="page"' in page


@pytest.mark.django_db(transaction=True)
def test_another_users_dns_objects_are_404_everywhere(
    user: User, other_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    server = make_server(user)
    domain = make_domain(user, server, "news.example.test")
    link = linked(user, "cloudflare", domain, queue, "example.test")
    plan = DnsPlan.objects.create(
        owner=user, domain=domain, zone_name="example.test", state=PlanState.PLANNED
    )
    account, job = link.account, plan.plan_job
    routes = [
        ("get", "dns_account_detail", account.pk),
        ("post", "dns_account_test", account.pk),
        ("post", "dns_account_delete", account.pk),
        ("get", "dns_domain", domain.pk),
        ("post", "dns_domain_link", domain.pk),
        ("post", "dns_plan_start", domain.pk),
        ("post", "dns_rotate", domain.pk),
        ("get", "dns_plan", plan.pk),
        ("post", "dns_plan_apply", plan.pk),
        ("get", "dns_setup_server", server.pk),
        ("post", "dns_setup_server", server.pk),
    ]
    for method, name, pk in routes:
        response = getattr(other_client, method)(reverse(name, args=[pk]), {"step": "provision"})
        assert response.status_code == 404, name
    assert job is None
    other_page = other_client.get(reverse("dns")).content.decode()
    assert "news.example.test" not in other_page and account.label not in other_page
    plan.refresh_from_db()
    assert plan.state == PlanState.PLANNED and DnsAccount.objects.filter(pk=account.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_an_account_in_use_cannot_be_disconnected_and_its_credential_is_kept(
    user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    link = linked(user, "cloudflare", domain, queue, "example.test")
    response = owner_client.post(reverse("dns_account_delete", args=[link.account.pk]), follow=True)
    assert "Still used by news.example.test" in response.content.decode()
    spare = connect(user, "namecom", queue)
    owner_client.post(reverse("dns_account_delete", args=[spare.pk]))
    assert not DnsAccount.objects.filter(pk=spare.pk).exists()
    assert spare.credential_id is not None
    from mailpanel.vault.models import Credential

    assert Credential.objects.filter(pk=spare.credential_id).exists()


@pytest.mark.django_db(transaction=True)
def test_removing_a_domain_says_which_records_it_leaves_in_dns(
    user: User, other_user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    from mailpanel.domains.models import DkimKey, SendingDomain
    from mailpanel.jobs.models import Job

    server = make_server(user)
    bare = make_domain(user, server, "bare.example.test")
    url = reverse("domain_delete", args=[bare.pk])
    assert "The panel published no DNS records for it." in owner_client.get(url).content.decode()

    domain = make_domain(user, server, "news.example.test")
    linked(user, "cloudflare", domain, queue, "example.test")
    plan = plan_and_apply(domain, queue)
    assert plan.state == PlanState.APPLIED
    page = owner_client.get(reverse("domain_delete", args=[domain.pk])).content.decode()
    assert "data-left-in-dns" in page and "in example.test (cloudflare account)" in page
    assert "The MX points at this server" in page
    for row in plan.result:
        assert f"<code>{row['name']}</code>" in page
    key = domain.active_key
    assert key is not None and f"p={key.public_key}" in page

    # After a key rotation (DKIM alone applied), the rest still shows, with the new key.
    dkim = next(r for r in plan.result if r["kind"] == "dkim")
    rotated = {**dkim, "name": f"mp209901._domainkey.{domain.name}", "value": "v=DKIM1; p=NEW"}
    DnsPlan.objects.create(
        owner=user, domain=domain, zone_name="example.test", state=PlanState.APPLIED,
        result=[rotated], applied_at=timezone.now(),
    )  # fmt: skip
    page = owner_client.get(reverse("domain_delete", args=[domain.pk])).content.decode()
    assert "The MX points at this server" in page and "v=DKIM1; p=NEW" in page
    assert f"p={key.public_key}" not in page

    theirs = make_domain(other_user, make_server(other_user), "theirs.example.test")
    assert owner_client.get(reverse("domain_delete", args=[theirs.pk])).status_code == 404
    assert owner_client.post(reverse("domain_delete", args=[theirs.pk])).status_code == 404
    assert SendingDomain.objects.filter(pk=theirs.pk).exists()

    removed = owner_client.post(reverse("domain_delete", args=[domain.pk]))
    job = Job.objects.filter(kind="server.converge").get()
    assert removed["Location"] == reverse("job_detail", args=[job.pk])
    assert not SendingDomain.objects.filter(pk=domain.pk).exists()
    assert not DkimKey.objects.filter(domain_id=domain.pk).exists()
