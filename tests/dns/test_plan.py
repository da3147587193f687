"""Plans: creates, updates and deletes with before/after, safety, TTLs, and idempotency."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from mailpanel.dns.desired import DkimPublication, MailDomain, build
from mailpanel.dns.plan import Plan, from_json, make_plan, to_json, within
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, Record
from tests.dns.conftest import CREDENTIALS

DOMAIN = MailDomain(
    name="example.test",
    mail_host="mail.example.test",
    ipv4=("192.0.2.25",),
    dkim=(DkimPublication("mp202601", "v=DKIM1; k=rsa; p=KEY"),),
    dmarc_policy="none",
    report_address="reports@example.test",
)


@pytest.fixture
def providers() -> Iterator[dict[str, DnsProvider]]:
    """Provider objects for their TTL rules only (they are never asked anything)."""
    made = {k: make_provider(k, CREDENTIALS[k], "http://127.0.0.1:9") for k in CREDENTIALS}
    yield made
    import asyncio

    asyncio.run(_close(made))


async def _close(made: dict[str, DnsProvider]) -> None:
    for provider in made.values():
        await provider.aclose()


def keep(ttl: int) -> tuple[int, str | None]:
    return ttl, None


def plan_for(existing: list[Record], ttl: int = 300, **kw: object) -> Plan:
    desired = build(DOMAIN, "example.test", existing, ttl)
    return make_plan(desired, existing, keep, zone="example.test", **kw)  # type: ignore[arg-type]


def applied(existing: list[Record], plan: Plan) -> list[Record]:
    """The zone after the plan's changes, as a provider would leave it."""
    zone = list(existing)
    for change in plan.provider_changes:
        if change.before is not None:
            zone.remove(next(r for r in zone if r.same_data(change.before)))
        if change.after is not None:
            zone.append(change.after)
    return zone


def test_an_empty_zone_gets_every_record_created() -> None:
    plan = plan_for([])
    assert plan.counts == {"create": 6, "update": 0, "delete": 0}
    assert all(c.change.before is None for c in plan.changes)
    assert {c.kind for c in plan.changes} == {
        "host",
        "mx",
        "spf",
        "dkim",
        "dmarc",
        "tls-rpt",
    }


def test_planning_again_after_applying_finds_nothing_to_do() -> None:
    first = plan_for([Record("example.test", "A", "198.51.100.1", 300)])
    zone = applied([Record("example.test", "A", "198.51.100.1", 300)], first)
    assert plan_for(zone).changes == []


def test_records_the_panel_does_not_manage_are_never_touched() -> None:
    theirs = [
        Record("example.test", "TXT", "google-site-verification=abc", 300),
        Record("example.test", "A", "198.51.100.1", 300),
        Record("_dmarc.example.test", "TXT", "not a dmarc record", 300),
        Record("google._domainkey.example.test", "TXT", "v=DKIM1; p=GOOGLE", 300),
        Record("www.example.test", "CNAME", "example.test", 300),
    ]
    plan = plan_for(theirs)
    touched = [c.change.before for c in plan.changes if c.change.before is not None]
    assert touched == []


def test_an_existing_spf_record_is_updated_in_place_never_doubled() -> None:
    spf = Record("example.test", "TXT", "v=spf1 include:_spf.mailer.test ~all", 300)
    plan = plan_for([spf])
    [change] = [c.change for c in plan.changes if c.kind == "spf"]
    assert change.action is Action.UPDATE and change.before == spf
    assert change.after is not None
    assert change.after.content == "v=spf1 include:_spf.mailer.test ip4:192.0.2.25 ~all"


def test_stale_and_duplicate_records_are_updated_or_deleted() -> None:
    existing = [
        Record("mail.example.test", "A", "198.51.100.9", 300),  # the server moved
        Record("mail.example.test", "A", "198.51.100.10", 300),
        Record("example.test", "TXT", "v=spf1 ip4:192.0.2.25 -all", 300),
        Record("example.test", "TXT", "v=spf1 ip4:192.0.2.25 -all", 300),  # a duplicate
        Record("_dmarc.example.test", "TXT", "v=DMARC1; p=none", 60),  # only the TTL differs
    ]
    plan = plan_for(existing)
    by_kind = {(c.kind, c.action) for c in plan.changes}
    assert ("host", Action.UPDATE) in by_kind and ("host", Action.DELETE) in by_kind
    assert ("spf", Action.DELETE) in by_kind and ("spf", Action.UPDATE) not in by_kind
    [dmarc] = [c.change for c in plan.changes if c.kind == "dmarc"]
    assert dmarc.action is Action.UPDATE and dmarc.before and dmarc.before.ttl == 60
    assert plan_for(applied(existing, plan)).changes == []


def big_zone(count: int) -> list[Record]:
    return [Record(f"host{i}.example.test", "A", f"198.51.100.{i}", 300) for i in range(count)]


def test_touching_more_than_30_percent_of_a_big_zone_is_refused_unless_forced() -> None:
    stale = [
        Record(f"mp20250{i}._domainkey.example.test", "TXT", "v=DKIM1; p=x", 300) for i in range(4)
    ]
    domain = dataclasses.replace(DOMAIN, dkim_removed=tuple(f"mp20250{i}" for i in range(4)))
    existing = big_zone(7) + stale
    desired = build(domain, "example.test", existing, 300)

    refused = make_plan(desired, existing, keep, zone="example.test")
    forced = make_plan(desired, existing, keep, zone="example.test", forced=True)

    assert refused.counts["delete"] == 4 and refused.blocked
    assert "4 of the zone's 11 records" in refused.refusals[0].reason
    assert forced.refusals[0].forceable and not forced.blocked


def test_small_zones_and_creations_never_trip_the_safety_rule() -> None:
    assert not plan_for([]).refusals  # 7 creates in an empty zone
    assert not plan_for(big_zone(40)).refusals  # many records, none ours
    assert not plan_for([Record("example.test", "TXT", "v=spf1 -all", 300)]).refusals


@pytest.mark.parametrize(
    ("kind", "ttl", "stored", "words"),
    [
        ("cloudflare", 30, 60, "at least 60 s: 30 s raised"),
        ("namecom", 100, 300, "at least 300 s: 100 s raised"),
        ("openprovider", 300, 600, "at least 600 s: 300 s raised"),
        ("namecom", 100000, 86400, "at most 86400 s: 100000 s lowered"),
    ],
)
def test_ttls_are_adjusted_to_the_provider_with_a_note(
    providers: dict[str, DnsProvider], kind: str, ttl: int, stored: int, words: str
) -> None:
    desired = build(DOMAIN, "example.test", [], ttl)
    plan = make_plan(desired, [], providers[kind].normalize_ttl, zone="example.test")
    assert {c.record.ttl for c in plan.changes} == {stored}
    assert [n for n in plan.notes if words in n]
    again = make_plan(
        desired, applied([], plan), providers[kind].normalize_ttl, zone="example.test"
    )
    assert again.changes == []  # the adjusted TTL is what the zone then holds


def test_a_plan_survives_its_json_form() -> None:
    plan = plan_for([Record("example.test", "TXT", "v=spf1 mx -all", 300)])
    again = from_json(to_json(plan))
    assert to_json(again) == to_json(plan)
    assert within(plan, again) and within(again, plan)


def test_only_reviewed_changes_are_within_a_plan() -> None:
    reviewed = plan_for([])
    partly_done = plan_for(applied([], Plan("example.test", reviewed.changes[:3])))
    assert len(partly_done.changes) == 3 and within(partly_done, reviewed)
    surprise = Plan("example.test")
    surprise.changes = [
        dataclasses.replace(
            reviewed.changes[0],
            change=Change(Action.DELETE, before=Record("example.test", "TXT", "v=spf1 -all", 300)),
        )
    ]
    assert not within(surprise, reviewed)


def test_a_plan_narrowed_to_dkim_is_judged_by_what_it_still_sends() -> None:
    existing = [
        *big_zone(6),
        Record("example.test", "TXT", "v=spf1 -all", 300),
        Record("example.test", "MX", "mail.example.test", 300, 20),
        Record("_dmarc.example.test", "TXT", "v=DMARC1; p=reject", 300),
        Record("mail.example.test", "A", "198.51.100.1", 300),
    ]
    full = plan_for(existing)
    assert full.blocked  # 4 of 10 records would change

    dkim_only = full.only("dkim")

    assert [c.kind for c in dkim_only.changes] == ["dkim"]
    assert not dkim_only.refusals and not dkim_only.blocked
    assert [w.kind for w in dkim_only.wanted] == ["dkim"]
