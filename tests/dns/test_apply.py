"""Plan and apply through the jobs, against each provider's fake, verified by real lookups."""

from __future__ import annotations

import dns.asyncresolver
import dns.resolver
import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from lab.dnsserver import DnsServer
from lab.providers.base import FakeProvider, Request, Response
from lab.providers.namecom import FakeNameCom
from mailpanel.accounts.models import User
from mailpanel.dns import actions
from mailpanel.dns.models import DnsPlan, DomainZone, PlanState
from mailpanel.domains.models import SendingDomain
from mailpanel.jobs.models import Job, JobState
from tests.dns.conftest import PROVIDERS, ZONE_OF, Fakes
from tests.dns.support import (
    connect,
    job_text,
    linked,
    make_domain,
    make_server,
    plan_and_apply,
    settled,
    writes,
    zone_rows,
)
from tests.helpers import drain

pytestmark = pytest.mark.django_db(transaction=True)


def setup_domain(user: User, kind: str, queue: Huey, sub: str = "news") -> DnsPlan | object:
    zone = ZONE_OF[kind]
    server = make_server(user, mail_hostname=f"mail.{zone}")
    domain = make_domain(user, server, f"{sub}.{zone}", dmarc_policy="quarantine")
    linked(user, kind, domain, queue, zone)
    return domain


def answers(server: DnsServer, name: str, rtype: str) -> list[str]:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port = [server.host], server.port
    try:
        answer = res.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    if rtype == "TXT":
        return [b"".join(r.strings).decode() for r in answer]
    return [r.to_text() for r in answer]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_apply_publishes_every_record_and_dns_answers_them(
    user: User, lab_like: Fakes, dns_server: DnsServer, queue: Huey, kind: str
) -> None:
    domain = setup_domain(user, kind, queue)

    plan = plan_and_apply(domain, queue)  # type: ignore[arg-type]

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    assert plan.apply_job is not None and plan.apply_job.state == JobState.SUCCEEDED
    assert len(plan.result) == 6 and all(r["visible"] for r in plan.result), plan.result
    name = domain.name  # type: ignore[attr-defined]
    assert answers(dns_server, name, "MX") == [f"10 mail.{ZONE_OF[kind]}."]
    assert answers(dns_server, name, "TXT") == ["v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all"]
    [dkim] = answers(dns_server, f"mp202601._domainkey.{name}", "TXT")
    assert dkim.startswith("v=DKIM1; k=rsa; p=MII") and len(dkim) > 255
    assert answers(dns_server, f"_dmarc.{name}", "TXT") == ["v=DMARC1; p=quarantine"]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_applying_an_unchanged_plan_again_makes_no_write_call(
    user: User, lab_like: Fakes, queue: Huey, kind: str
) -> None:
    domain = setup_domain(user, kind, queue)
    first = plan_and_apply(domain, queue)  # type: ignore[arg-type]
    assert first.state == PlanState.APPLIED, job_text(first.apply_job)
    fake = lab_like[kind]
    before = len(writes(fake))

    second = plan_and_apply(domain, queue)  # type: ignore[arg-type]

    assert second.state == PlanState.APPLIED and second.content["changes"] == []
    assert len(writes(fake)) == before
    assert "nothing to write" in job_text(second.apply_job)
    assert "0 write call(s)" in (second.apply_job.status_text if second.apply_job else "")


@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_zone_of_many_pages_is_read_whole_and_others_records_stay(
    user: User, lab_like: Fakes, queue: Huey, kind: str
) -> None:
    fake, zone = lab_like[kind], ZONE_OF[kind]
    [row] = [z for z in lab_like.store.zones(kind) if z["name"] == zone]
    for i in range(30):
        lab_like.store.add_record(row["id"], f"web{i}.{zone}", "A", f"198.51.100.{i + 1}", 3600)
    lab_like.store.add_record(
        row["id"], f"news.{zone}", "TXT", "v=spf1 include:esp.test ~all", 3600
    )
    lab_like.store.add_record(row["id"], f"news.{zone}", "TXT", "site-verification=xyz", 3600)
    fake.records_max_per_page = 5  # type: ignore[attr-defined]
    fake.max_per_page = 5  # type: ignore[attr-defined]
    fake.max_limit = 5  # type: ignore[attr-defined]
    domain = setup_domain(user, kind, queue)

    plan = plan_and_apply(domain, queue)  # type: ignore[arg-type]

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    assert plan.content["existing_count"] == 32
    assert plan.content["counts"] == {"create": 5, "update": 1, "delete": 0}
    rows = zone_rows(lab_like.store, kind, zone)
    assert len([r for r in rows if r["name"].startswith("web")]) == 30
    txt = sorted(
        r["content"].strip('"') for r in rows if r["name"] == f"news.{zone}" and r["type"] == "TXT"
    )
    assert txt == [
        "site-verification=xyz",
        "v=spf1 include:esp.test ip4:192.0.2.25 ip6:2001:db8::25 ~all",
    ]
    reads = [r for r in settled(fake) if r.method == "GET" and "record" in r.path]
    assert len(reads) >= 7  # every page, twice (plan, then the apply's fresh plan)


@pytest.mark.parametrize("kind", PROVIDERS)
def test_updates_deletes_and_duplicates_in_the_zone_are_settled(
    user: User, lab_like: Fakes, queue: Huey, kind: str
) -> None:
    zone = ZONE_OF[kind]
    [row] = [z for z in lab_like.store.zones(kind) if z["name"] == zone]
    add = lab_like.store.add_record
    add(row["id"], f"mail.{zone}", "A", "198.51.100.77", 3600)  # the old server
    add(row["id"], f"_dmarc.news.{zone}", "TXT", "v=DMARC1; p=none", 3600)
    add(row["id"], f"_dmarc.news.{zone}", "TXT", "v=DMARC1; p=none", 3600)  # a duplicate
    domain = setup_domain(user, kind, queue)

    plan = plan_and_apply(domain, queue)  # type: ignore[arg-type]

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    counts = plan.content["counts"]
    assert counts["update"] == 2 and counts["delete"] == 1, plan.content["changes"]
    rows = zone_rows(lab_like.store, kind, zone)
    assert [r["content"] for r in rows if r["name"] == f"mail.{zone}" and r["type"] == "A"] == [
        "192.0.2.25"
    ]
    dmarc = [r for r in rows if r["name"] == f"_dmarc.news.{zone}"]
    assert len(dmarc) == 1 and "quarantine" in dmarc[0]["content"]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_429_storm_during_apply_is_ridden_out(
    user: User, lab_like: Fakes, queue: Huey, kind: str
) -> None:
    domain = setup_domain(user, kind, queue)
    plan = actions.start_plan(domain, 3600)  # type: ignore[arg-type]
    drain(queue)
    plan.refresh_from_db()
    lab_like[kind].force_429 = 25  # beyond one request's budget of 10: planning again helps
    actions.start_apply(plan)
    drain(queue)
    plan.refresh_from_db()

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    assert all(r["visible"] for r in plan.result)
    assert 429 in [r.status for r in settled(lab_like[kind])]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_5xx_burst_during_apply_still_completes(
    user: User, lab_like: Fakes, queue: Huey, kind: str
) -> None:
    domain = setup_domain(user, kind, queue)
    plan = actions.start_plan(domain, 3600)  # type: ignore[arg-type]
    drain(queue)
    plan.refresh_from_db()
    fake = lab_like[kind]
    burst_from_first_write(fake, 3)

    actions.start_apply(plan)
    drain(queue)
    plan.refresh_from_db()

    assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
    statuses = [r.status for r in settled(fake)]
    assert statuses.count(503) == 3 and statuses[-1] == 200
    assert "Planning again" in job_text(plan.apply_job)
    rows = zone_rows(lab_like.store, kind, ZONE_OF[kind])
    keys = [(r["name"], r["type"], r["content"]) for r in rows]
    assert len(keys) == len(set(keys)) == 6  # each record once, none twice


def burst_from_first_write(fake: FakeProvider, count: int) -> None:
    """From the first write on, the next `count` requests answer 503 (a gateway hiccup)."""
    original = fake.handle
    state = {"left": 0, "fired": False}

    def handle(req: Request) -> Response:
        write = req.method not in ("GET", "HEAD") and not req.path.endswith("login")
        if write and not state["fired"]:
            state["left"], state["fired"] = count, True
        if state["left"]:
            state["left"] -= 1
            return fake.error(503, "Service Unavailable (lab burst)")
        return original(req)

    fake.handle = handle  # type: ignore[method-assign]


class FailingNameCom(FakeNameCom):
    """Name.com that accepts `allowed` writes, then answers 503 to every write."""

    allowed: int | None = None

    def handle(self, req: Request) -> Response:
        if req.method != "GET" and self.allowed is not None:
            if self.allowed <= 0:
                return self.error(503, "Service Unavailable")
            self.allowed -= 1
        return super().handle(req)


def test_an_interrupted_apply_is_completed_by_applying_again(
    user: User, lab_like: Fakes, queue: Huey, settings: object
) -> None:
    lab_like.namecom.stop()
    flaky = FailingNameCom(lab_like.store)
    flaky.add_account("nc-panel-user", "ncToken0123456789abcdef", ["namecom.test"])
    flaky.rate_limits = []
    flaky.start()
    settings.DNS_API_URLS = {**settings.DNS_API_URLS, "namecom": flaky.base_url}  # type: ignore[attr-defined]
    try:
        domain = setup_domain(user, "namecom", queue)
        plan = actions.start_plan(domain, 3600)  # type: ignore[arg-type]
        drain(queue)
        plan.refresh_from_db()
        flaky.allowed = 3
        actions.start_apply(plan)
        drain(queue)
        plan.refresh_from_db()
        assert plan.state == PlanState.FAILED
        assert "Name.com said: Service Unavailable" in (
            plan.apply_job.error if plan.apply_job else ""
        )
        assert len(zone_rows(lab_like.store, "namecom", "namecom.test")) == 3
        flaky.requests.clear()

        flaky.allowed = None
        actions.start_apply(plan)
        drain(queue)
        plan.refresh_from_db()

        assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)
        assert len(writes(flaky)) == 3  # only what was missing
        assert len(zone_rows(lab_like.store, "namecom", "namecom.test")) == 6
    finally:
        flaky.stop()


@pytest.mark.parametrize("kind", PROVIDERS)
def test_wrong_credentials_fail_in_the_providers_words_and_write_nothing(
    user: User, lab_like: Fakes, queue: Huey, kind: str
) -> None:
    wrong = {
        "cloudflare": {"token": "wrongToken0123456789abcdefghijklmnopqr"},
        "namecom": {"username": "nc-panel-user", "token": "wrongToken0123456789"},
        "openprovider": {"username": "op-panel-user", "password": "not-the-password"},
    }[kind]
    account = connect(user, kind, queue, wrong)

    assert account.verified_at is None and account.zones == []
    from mailpanel.jobs.models import Job

    job = Job.objects.get(kind="dns.account_test", params__account_id=str(account.pk))
    expected = {
        "cloudflare": "Cloudflare said: Invalid API Token",
        "namecom": "Name.com said: Unauthenticated",
        "openprovider": "OpenProvider said: Authentication/Authorization Failed",
    }[kind]
    assert job.state == JobState.FAILED and job.error.startswith(expected), job.error
    assert "What to do:" in job.error
    assert writes(lab_like[kind]) == []


def test_a_plan_touching_much_of_a_zone_is_refused_until_the_owner_forces_it(
    user: User, lab_like: Fakes, queue: Huey
) -> None:
    [row] = [z for z in lab_like.store.zones("cloudflare") if z["name"] == "example.test"]
    add = lab_like.store.add_record
    for i in range(6):
        add(row["id"], f"web{i}.example.test", "A", f"198.51.100.{i + 1}", 3600)
    add(row["id"], "mail.example.test", "A", "198.51.100.99", 3600)
    add(row["id"], "news.example.test", "MX", "mail.example.test", 3600, priority=5)
    add(row["id"], "news.example.test", "TXT", "v=spf1 a -all", 3600)
    add(row["id"], "_dmarc.news.example.test", "TXT", "v=DMARC1; p=none", 3600)
    domain = setup_domain(user, "cloudflare", queue)
    plan = actions.start_plan(domain, 3600)  # type: ignore[arg-type]
    drain(queue)
    plan.refresh_from_db()
    assert plan.state == PlanState.REFUSED
    assert "4 of the zone's 10 records" in plan.content["refusals"][0]["reason"]
    with pytest.raises(actions.DnsActionRefused, match="was refused"):
        actions.start_apply(plan)
    assert writes(lab_like.cloudflare) == []

    actions.start_apply(plan, force=True)
    drain(queue)
    plan.refresh_from_db()

    assert plan.state == PlanState.APPLIED and plan.forced, job_text(plan.apply_job)
    rows = zone_rows(lab_like.store, "cloudflare", "example.test")
    assert len([r for r in rows if r["name"].startswith("web")]) == 6
    assert len(writes(lab_like.cloudflare)) == 1  # one batch


@pytest.mark.parametrize("kind", PROVIDERS)
def test_a_server_move_takes_back_only_what_the_panel_wrote(
    user: User, lab_like: Fakes, dns_server: DnsServer, queue: Huey, kind: str
) -> None:
    zone = ZONE_OF[kind]
    name = f"moves.{zone}"
    [zone_row] = [z for z in lab_like.store.zones(kind) if z["name"] == zone]
    theirs = {
        name: "v=spf1 mx ip4:198.51.100.9 ~all",
        f"_dmarc.{name}": "v=DMARC1; p=none; rua=mailto:agg@reports.test; sp=reject",
    }
    for owner, value in theirs.items():
        lab_like.store.add_record(zone_row["id"], owner, "TXT", value, 3600)
    domain = setup_domain(user, kind, queue, sub="moves")
    first = plan_and_apply(domain, queue)  # type: ignore[arg-type]
    assert first.state == PlanState.APPLIED, job_text(first.apply_job)
    assert answers(dns_server, name, "TXT") == [
        "v=spf1 mx ip4:198.51.100.9 ip4:192.0.2.25 ip6:2001:db8::25 ~all"
    ]
    assert answers(dns_server, f"_dmarc.{name}", "TXT") == [
        "v=DMARC1; p=quarantine; rua=mailto:agg@reports.test; sp=reject"
    ]

    # The domain moves to a server with another name and address; reports go elsewhere.
    old_server = domain.server  # type: ignore[attr-defined]
    moved = make_server(user, mail_hostname=f"mx2.{zone}", ips=("192.0.2.77",))
    SendingDomain.objects.filter(pk=domain.pk).update(  # type: ignore[attr-defined]
        server=moved, dmarc_report_address=f"dmarc@{zone}"
    )
    second = plan_and_apply(SendingDomain.objects.get(pk=domain.pk), queue)  # type: ignore[attr-defined]
    assert second.state == PlanState.APPLIED, job_text(second.apply_job)
    assert "takes back ip4:192.0.2.25 ip6:2001:db8::25" in " | ".join(second.content["notes"])
    assert answers(dns_server, name, "TXT") == ["v=spf1 mx ip4:198.51.100.9 ip4:192.0.2.77 ~all"]
    assert answers(dns_server, f"mx2.{zone}", "A") == ["192.0.2.77"]
    assert answers(dns_server, name, "MX") == [f"10 mx2.{zone}."]
    assert answers(dns_server, f"_dmarc.{name}", "TXT") == [
        f"v=DMARC1; p=quarantine; rua=mailto:agg@reports.test,mailto:dmarc@{zone}; sp=reject"
    ]
    # The old server still has its name: its address stays while it exists.
    assert answers(dns_server, f"mail.{zone}", "A") == ["192.0.2.25"]

    old_server.delete()
    third = plan_and_apply(SendingDomain.objects.get(pk=domain.pk), queue)  # type: ignore[attr-defined]
    assert third.state == PlanState.APPLIED, job_text(third.apply_job)
    assert f"mail.{zone} A 192.0.2.25 comes down" in " | ".join(third.content["notes"])
    assert answers(dns_server, f"mail.{zone}", "A") == []
    assert answers(dns_server, f"mail.{zone}", "AAAA") == []

    # Then the owner takes the address away again: only the panel's report address goes.
    SendingDomain.objects.filter(pk=domain.pk).update(dmarc_report_address="")  # type: ignore[attr-defined]
    fourth = plan_and_apply(SendingDomain.objects.get(pk=domain.pk), queue)  # type: ignore[attr-defined]
    assert fourth.state == PlanState.APPLIED, job_text(fourth.apply_job)
    assert answers(dns_server, f"_dmarc.{name}", "TXT") == [
        "v=DMARC1; p=quarantine; rua=mailto:agg@reports.test; sp=reject"
    ]


def test_the_panels_ledger_stays_with_its_zone_and_is_forgotten_on_another(
    user: User, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    first = connect(user, "cloudflare", queue)
    link = actions.link_zone(domain, first, "example.test")
    ledger = {"spf": ["ip4:192.0.2.25"], "report_uris": [], "hosts": []}
    DomainZone.objects.filter(pk=link.pk).update(published=ledger)

    assert actions.link_zone(domain, first, "example.test").published == ledger
    second = connect(
        user, "cloudflare", queue, label="second"
    )  # the same zone through another account
    assert actions.link_zone(domain, second, "example.test").published == {}


def test_checking_again_asks_dns_and_writes_nothing_at_the_provider(
    user: User, lab_like: Fakes, dns_server: DnsServer, queue: Huey, owner_client: Client
) -> None:
    domain = setup_domain(user, "namecom", queue, sub="late")
    plan = plan_and_apply(domain, queue)  # type: ignore[arg-type]
    assert plan.state == PlanState.APPLIED and all(r["visible"] for r in plan.result)
    name = f"_dmarc.{domain.name}"  # type: ignore[attr-defined]
    [row] = [r for r in zone_rows(lab_like.store, "namecom", "namecom.test") if r["name"] == name]
    lab_like.store.delete_record(row["id"])  # as if a resolver had not seen it yet
    before = len(settled(lab_like.namecom))

    response = owner_client.post(reverse("dns_plan_verify", args=[plan.pk]))
    assert response.status_code == 302
    drain(queue)
    plan.refresh_from_db()
    assert [r["name"] for r in plan.result if not r["visible"]] == [name]
    job = Job.objects.filter(kind="dns.verify").first()
    assert job is not None and "Not visible yet: " + name in job_text(job)
    page = owner_client.get(reverse("dns_plan", args=[plan.pk])).content.decode()
    assert "Check DNS again" in page and "state-failed" in page

    lab_like.store.add_record(row["zone_id"], name, "TXT", row["content"], row["ttl"])
    owner_client.post(reverse("dns_plan_verify", args=[plan.pk]))
    drain(queue)
    plan.refresh_from_db()
    assert all(r["visible"] for r in plan.result)
    assert (
        "Check DNS again"
        not in owner_client.get(reverse("dns_plan", args=[plan.pk])).content.decode()
    )
    assert len(settled(lab_like.namecom)) == before  # not one call to the provider


def test_only_an_applied_plan_of_ones_own_is_checked(
    user: User, lab_like: Fakes, queue: Huey, owner_client: Client, other_client: Client
) -> None:
    domain = setup_domain(user, "cloudflare", queue, sub="unapplied")
    plan = actions.start_plan(domain, 3600)  # type: ignore[arg-type]
    drain(queue)
    url = reverse("dns_plan_verify", args=[plan.pk])
    assert other_client.post(url).status_code == 404
    page = owner_client.post(url, follow=True).content.decode()
    assert "Only an applied plan&#x27;s records can be checked" in page
    assert not Job.objects.filter(kind="dns.verify").exists()


def test_a_second_click_follows_the_check_already_queued(
    user: User, lab_like: Fakes, queue: Huey, owner_client: Client
) -> None:
    domain = setup_domain(user, "namecom", queue, sub="twice")
    plan = plan_and_apply(domain, queue)  # type: ignore[arg-type]
    url = reverse("dns_plan_verify", args=[plan.pk])
    owner_client.post(url)
    owner_client.post(url)
    assert Job.objects.filter(kind="dns.verify").count() == 1
    drain(queue)
    owner_client.post(url)  # the first has finished: a new check
    assert Job.objects.filter(kind="dns.verify").count() == 2


def test_a_plan_for_a_zone_the_domain_left_is_not_applied(
    user: User, lab_like: Fakes, queue: Huey
) -> None:
    domain = make_domain(user, make_server(user), "news.example.test")
    first = connect(user, "cloudflare", queue)
    actions.link_zone(domain, first, "example.test")
    plan = actions.start_plan(domain, 3600)
    drain(queue)
    plan.refresh_from_db()
    DomainZone.objects.filter(domain=domain).update(zone_name="elsewhere.test")

    with pytest.raises(actions.DnsActionRefused, match="no longer published there"):
        actions.start_apply(plan)
    assert writes(lab_like.cloudflare) == []
