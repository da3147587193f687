"""A tenant proves control of a sending domain before its server signs for it or the panel
publishes it, and a domain one tenant proved is refused to every other (audit finding).

Proofs are checked against real peers: the TXT record is answered by the lab's DNS server,
the DNS account's zones are listed by the lab's Cloudflare fake.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from lab.dnsserver import DnsServer
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.dns import actions as dns_actions
from mailpanel.dns.inputs import DomainNotVerified, mail_domain
from mailpanel.dns.models import DnsPlan
from mailpanel.domains.actions import DomainRefused, add_domain
from mailpanel.domains.claims import instructions
from mailpanel.domains.models import SendingDomain, SmtpUser
from mailpanel.domains.stack import build_mail_stack, policy_sites
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.context import JobContext
from mailpanel.jobs.models import Job
from mailpanel.servers.models import Server
from tests.dns.conftest import Fakes, dns_server, fakes, lab_like, store
from tests.dns.support import connect, make_domain, make_server

__all__ = ["dns_server", "fakes", "lab_like", "store"]  # fixtures used here

CLAIMED = "Another account has proved control of news.example.test"


def add(client: Client, server: Server, name: str) -> tuple[int, str]:
    """Add a domain through the page; its status code and content."""
    data = {"name": name, "server": server.pk, "dmarc_policy": "none"}
    response = client.post(reverse("domain_add"), data)
    return response.status_code, response.content.decode()


def verify(client: Client, domain: SendingDomain) -> str:
    """Press the domain page's Verify button; the page it lands on, with the message."""
    response = client.post(reverse("domain_verify", args=[domain.pk]), follow=True)
    assert response.status_code == 200
    return response.content.decode()


def publish_txt(store: ZoneStore, name: str, value: str) -> None:
    """A TXT record in the lab's DNS, in a zone of its own (no provider account holds it)."""
    zone = store.zone_by_name("lab", "claims", "claim.test") or store.create_zone(
        "lab", "claims", "claim.test"
    )
    store.add_record(zone["id"], name, "TXT", value, 300)


def converges(server: Server) -> int:
    return Job.objects.filter(kind="server.converge", params__server_id=str(server.pk)).count()


# -- one tenant's domain is not another's ---------------------------------------------------


@pytest.mark.django_db
def test_another_tenant_cannot_add_a_domain_its_owner_verified(
    user: User, other_user: User, other_client: Client
) -> None:
    make_domain(user, make_server(user), "news.example.test")
    theirs = make_server(other_user)

    status, page = add(other_client, theirs, "news.example.test")

    assert status == 400 and CLAIMED in page
    assert not SendingDomain.objects.filter(owner=other_user).exists()
    with pytest.raises(
        DomainRefused, match=re.escape(CLAIMED)
    ):  # the action checks again, for any caller
        add_domain(other_user, theirs, "news.example.test")
    assert not SendingDomain.objects.filter(owner=other_user).exists()
    assert converges(theirs) == 0


@pytest.mark.django_db
def test_the_guided_setup_refuses_another_tenants_verified_domain(
    user: User, other_user: User, other_client: Client
) -> None:
    make_domain(user, make_server(user), "news.example.test")
    theirs = make_server(other_user, converged=True)

    response = other_client.post(
        reverse("dns_setup_server", args=[theirs.pk]),
        {"step": "domain", "name": "news.example.test", "dmarc_policy": "none"},
    )

    assert response.status_code == 400 and CLAIMED in response.content.decode()
    assert not SendingDomain.objects.filter(owner=other_user).exists()


@pytest.mark.django_db
def test_a_tenant_that_added_the_name_first_cannot_verify_it_once_another_has(
    user: User, other_user: User, other_client: Client
) -> None:
    theirs = make_domain(other_user, make_server(other_user), "news.example.test", verified_at=None)
    make_domain(user, make_server(user), "news.example.test")  # the owner proves control

    page = verify(other_client, theirs)

    assert CLAIMED in page
    theirs.refresh_from_db()
    assert theirs.verified_at is None and converges(theirs.server) == 0


@pytest.mark.django_db
def test_the_database_holds_at_most_one_verified_row_per_name(user: User, other_user: User) -> None:
    make_domain(user, make_server(user), "news.example.test")
    theirs = make_domain(other_user, make_server(other_user), "news.example.test", verified_at=None)

    with pytest.raises(IntegrityError), transaction.atomic():
        SendingDomain.objects.filter(pk=theirs.pk).update(verified_at=timezone.now())


@pytest.mark.django_db
def test_another_users_domain_is_a_404_to_verify_and_to_view(
    user: User, other_client: Client
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test", verified_at=None)

    assert other_client.post(reverse("domain_verify", args=[domain.pk])).status_code == 404
    assert other_client.get(reverse("domain_detail", args=[domain.pk])).status_code == 404
    assert other_client.post("/domains/not-a-uuid/verify/").status_code == 404
    domain.refresh_from_db()
    assert domain.verified_at is None


# -- until verified, nothing signs or publishes it ------------------------------------------


@pytest.mark.django_db
def test_an_unverified_domain_is_not_in_the_mail_stack_nor_plannable(
    user: User, owner_client: Client
) -> None:
    server = make_server(user)
    pending = make_domain(user, server, "pending.example.test", verified_at=None)
    SmtpUser.objects.create(owner=user, domain=pending, local_part="news", password_hash="x")
    make_domain(user, server, "news.example.test")

    stack = build_mail_stack(server, JobContext(start_job(user, "selftest", target=server.name)))

    assert [d.name for d in stack.domains] == ["news.example.test"]
    assert stack.users == ()
    assert [site.domain for site in policy_sites(server)] == ["news.example.test"]
    with pytest.raises(
        DomainNotVerified, match=re.escape("pending.example.test is not verified yet")
    ):
        mail_domain(pending)
    with pytest.raises(dns_actions.DnsActionRefused, match="not verified yet"):
        dns_actions.start_plan(pending)
    page = owner_client.post(
        reverse("dns_plan_start", args=[pending.pk]), {"ttl": "3600"}, follow=True
    ).content.decode()
    assert "pending.example.test is not verified yet: prove you control it" in page
    assert not DnsPlan.objects.exists()


@pytest.mark.django_db
def test_the_page_of_an_unverified_domain_says_what_to_publish_and_offers_verify(
    user: User, other_user: User, owner_client: Client
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test", verified_at=None)
    claim = instructions(domain)

    page = owner_client.get(reverse("domain_detail", args=[domain.pk])).content.decode()

    assert claim.name == "_mailpanel-verify.news.example.test"
    assert claim.value.startswith("mailpanel-verify=") and len(claim.value) > 40
    assert f"<code data-claim-name>{claim.name}</code>" in page
    assert f'<code class="wrap" data-claim-value>{claim.value}</code>' in page
    assert reverse("domain_verify", args=[domain.pk]) in page and ">Verify</button>" in page
    assert "Connect the DNS account" in page and 'data-signing="false"' in page
    assert "DNS records this domain needs" not in page
    theirs = make_domain(other_user, make_server(other_user), "x.test", verified_at=None)
    assert instructions(theirs).value != claim.value  # a token per user


# -- proof by TXT record, asked of the lab's DNS server -------------------------------------


@pytest.mark.django_db
def test_a_txt_record_with_the_owners_token_verifies_the_domain(
    user: User, owner_client: Client, dns_server: DnsServer, store: ZoneStore
) -> None:
    domain = make_domain(user, make_server(user), "news.claim.test", verified_at=None)
    claim = instructions(domain)
    publish_txt(store, claim.name, "v=something-else")
    publish_txt(store, claim.name, claim.value)

    page = verify(owner_client, domain)

    assert "news.claim.test is verified: found the TXT record _mailpanel-verify.news" in page
    domain.refresh_from_db()
    assert domain.verified_by == "txt" and domain.verified_at is not None
    assert converges(domain.server) == 1  # the server now signs for it
    again = verify(owner_client, domain)
    assert "news.claim.test is verified already." in again and converges(domain.server) == 1


@pytest.mark.django_db
def test_the_wrong_token_is_refused_and_the_page_says_what_was_found(
    user: User, other_user: User, owner_client: Client, dns_server: DnsServer, store: ZoneStore
) -> None:
    domain = make_domain(user, make_server(user), "news.claim.test", verified_at=None)
    before = verify(owner_client, domain)
    theirs = make_domain(other_user, make_server(other_user), "news.claim.test", verified_at=None)
    publish_txt(store, instructions(domain).name, instructions(theirs).value)

    after = verify(owner_client, domain)

    assert "news.claim.test is not verified: _mailpanel-verify.news.claim.test has no TXT" in before
    assert "news.claim.test is not verified: _mailpanel-verify.news.claim.test holds" in after
    assert instructions(theirs).value in after and "not your token" in after
    domain.refresh_from_db()
    assert domain.verified_at is None and converges(domain.server) == 0


@pytest.mark.django_db
def test_the_guided_setup_shows_the_txt_record_and_verifies_with_it(
    user: User, owner_client: Client, dns_server: DnsServer, store: ZoneStore
) -> None:
    server = make_server(user, converged=True)
    domain = make_domain(user, server, "news.claim.test", verified_at=None)
    url = reverse("dns_setup_server", args=[server.pk])
    claim = instructions(domain)

    waiting = owner_client.get(url).content.decode()
    publish_txt(store, claim.name, claim.value)
    response = owner_client.post(url, {"step": "claim"})

    assert 'data-current="domain"' in waiting and "prove you control it first" in waiting
    assert claim.value in waiting and 'name="step" value="claim"' in waiting
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.verified_by == "txt" and converges(server) == 1


# -- proof by a zone of the owner's own DNS account -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_zone_in_the_owners_dns_account_verifies_the_domain_as_it_is_added(
    user: User, owner_client: Client, fakes: Fakes, queue: Huey
) -> None:
    connect(user, "cloudflare", queue)  # lists example.test, shop.test, big.test
    server = make_server(user)

    in_zone, _ = add(owner_client, server, "news.example.test")
    outside, _ = add(owner_client, server, "news.claim.test")

    assert in_zone == outside == 302
    news = SendingDomain.objects.get(owner=user, name="news.example.test")
    assert news.verified_by == "dns_account" and news.verified_at is not None
    assert not SendingDomain.objects.get(owner=user, name="news.claim.test").verified_at
    assert converges(server) == 1  # for the verified one only


@pytest.mark.django_db(transaction=True)
def test_connecting_the_account_that_holds_the_zone_then_verify_proves_control(
    user: User, other_user: User, owner_client: Client, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.shop.test", verified_at=None)
    connect(other_user, "cloudflare", queue)  # another user's account proves nothing for me
    not_yet = verify(owner_client, domain)
    connect(user, "cloudflare", queue, label="my cloudflare")

    page = verify(owner_client, domain)

    assert "news.shop.test is not verified" in not_yet
    assert "is verified: found the zone shop.test in your DNS account “my cloudflare”" in page
    domain.refresh_from_db()
    assert domain.verified_by == "dns_account"


@pytest.mark.django_db(transaction=True)
def test_linking_the_domain_to_a_zone_of_the_owners_account_verifies_it(
    user: User, fakes: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test", verified_at=None)
    account = connect(user, "cloudflare", queue)

    dns_actions.link_zone(domain, account, "example.test")

    domain.refresh_from_db()
    assert domain.verified_by == "dns_account" and converges(domain.server) == 1
    dns_actions.start_plan(domain)  # plannable now
    assert DnsPlan.objects.filter(domain=domain).count() == 1


# -- upgrades --------------------------------------------------------------------------------

BEFORE = [("domains", "0004_signing_since")]
AFTER = [("domains", "0005_verified")]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_marks_existing_domains_verified_but_a_name_for_its_first_tenant_only() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User, Server = apps.get_model("accounts", "User"), apps.get_model("servers", "Server")
    Credential = apps.get_model("vault", "Credential")
    SendingDomain = apps.get_model("domains", "SendingDomain")

    def domain(email: str, name: str, added: datetime) -> object:
        owner = User.objects.get_or_create(email=email)[0]
        key = Credential.objects.create(
            owner=owner, kind="ssh_key", label=name, secret="v1:x:sealed", secret_key_id="x"
        )
        server = Server.objects.create(owner=owner, credential=key, name=name, host="192.0.2.1")
        made = SendingDomain.objects.create(owner=owner, server=server, name=name)
        SendingDomain.objects.filter(pk=made.pk).update(created_at=added)
        return made.pk

    now = timezone.now()
    first = domain("a@example.test", "shared.test", now.replace(year=2024))
    later = domain("b@example.test", "shared.test", now.replace(year=2025))
    alone = domain("b@example.test", "alone.test", now.replace(year=2025))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    after = executor.loader.project_state(AFTER).apps.get_model("domains", "SendingDomain")
    assert after.objects.get(pk=first).verified_by == "upgrade"
    assert after.objects.get(pk=alone).verified_at is not None
    assert after.objects.get(pk=later).verified_at is None

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
