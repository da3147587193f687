"""The mail record set: which records a domain wants, and which existing ones are the panel's."""

from __future__ import annotations

from mailpanel.dns.desired import (
    DkimPublication,
    MailDomain,
    Published,
    build,
    mta_sts_id,
    mta_sts_policy,
)
from mailpanel.dns.plan import make_plan
from mailpanel.dns.spf import LookupCount
from mailpanel.dns.types import Action, Record

LONG_KEY = "v=DKIM1; k=rsa; p=" + "A" * 392  # a 2048-bit key: longer than one TXT string


def domain(**fields: object) -> MailDomain:
    base: dict[str, object] = {
        "name": "news.example.test",
        "mail_host": "mail.example.test",
        "ipv4": ("192.0.2.25",),
        "ipv6": ("2001:db8::25",),
        "dkim": (DkimPublication("mp202601", LONG_KEY),),
        "dmarc_policy": "quarantine",
        "report_address": "dmarc@example.test",
    }
    return MailDomain(**{**base, **fields})  # type: ignore[arg-type]


def wanted(desired: object) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for item in desired.wanted:  # type: ignore[attr-defined]
        found.setdefault((item.record.name, item.record.type), []).append(item.record.content)
    return found


def test_the_full_set_for_a_domain_whose_mail_host_is_in_the_zone() -> None:
    records = wanted(build(domain(), "example.test", [], ttl=3600))
    assert records == {
        ("mail.example.test", "A"): ["192.0.2.25"],
        ("mail.example.test", "AAAA"): ["2001:db8::25"],
        ("news.example.test", "MX"): ["mail.example.test"],
        ("news.example.test", "TXT"): ["v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all"],
        ("mp202601._domainkey.news.example.test", "TXT"): [LONG_KEY],
        ("_dmarc.news.example.test", "TXT"): [
            "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test"
        ],
        ("_smtp._tls.news.example.test", "TXT"): ["v=TLSRPTv1; rua=mailto:dmarc@example.test"],
    }


def test_the_logical_dkim_value_is_whole_the_providers_split_it() -> None:
    desired = build(domain(), "example.test", [], ttl=3600)
    [dkim] = [w.record for w in desired.wanted if w.kind == "dkim"]
    assert dkim.content == LONG_KEY and len(dkim.content.encode()) > 255
    assert '"' not in dkim.content


def test_a_mail_host_outside_the_zone_gets_no_address_record_here() -> None:
    desired = build(domain(mail_host="vps1.lab"), "example.test", [], ttl=300)
    assert not [w for w in desired.wanted if w.kind == "host"]
    assert any("outside the zone" in note for note in desired.notes)


def test_without_a_report_address_dmarc_has_no_rua_and_there_is_no_tls_rpt() -> None:
    # The server takes no mail for the domain: reports to postmaster@ there would bounce.
    desired = build(domain(report_address=""), "example.test", [], ttl=300)
    records = wanted(desired)
    assert ("_smtp._tls.news.example.test", "TXT") not in records
    assert records[("_dmarc.news.example.test", "TXT")] == ["v=DMARC1; p=quarantine"]
    assert any("no TLS-RPT record" in n for n in desired.notes)


def test_the_mta_sts_id_is_stable_and_follows_the_policy() -> None:
    first = mta_sts_id(mta_sts_policy("mail.example.test"))
    assert first == mta_sts_id(mta_sts_policy("mail.example.test"))
    assert first != mta_sts_id(mta_sts_policy("mx2.example.test"))
    assert first.isalnum() and 1 <= len(first) <= 32


def test_only_the_panels_records_are_in_scope() -> None:
    desired = build(domain(), "example.test", [], ttl=300)
    ours = [
        Record("news.example.test", "TXT", "v=spf1 mx -all", 300),
        Record("_dmarc.news.example.test", "TXT", "v=DMARC1; p=none", 300),
        Record("mp202601._domainkey.news.example.test", "TXT", "k=rsa; p=old", 300),
        Record("news.example.test", "MX", "mx.elsewhere.test", 300, 5),
    ]
    theirs = [
        Record("news.example.test", "TXT", "google-site-verification=abc", 300),
        Record("_dmarc.news.example.test", "TXT", "something else", 300),
        Record("other._domainkey.news.example.test", "TXT", "v=DKIM1; p=theirs", 300),
        Record("news.example.test", "A", "198.51.100.7", 300),
        Record("www.example.test", "CNAME", "news.example.test", 300),
    ]
    assert all(desired.scope_of(r) is not None for r in ours)
    assert all(desired.scope_of(r) is None for r in theirs)


def test_a_cname_at_the_mail_host_is_refused_not_replaced() -> None:
    existing = [Record("mail.example.test", "CNAME", "elsewhere.test", 300)]
    desired = build(domain(), "example.test", existing, ttl=300)
    assert any("is a CNAME" in r.reason and not r.forceable for r in desired.refusals)


def test_a_domain_outside_the_zone_is_refused() -> None:
    desired = build(domain(), "shop.test", [], ttl=300)
    assert desired.refusals and "not inside the zone shop.test" in desired.refusals[0].reason
    assert not desired.wanted


def test_too_many_spf_lookups_are_refused_with_the_path() -> None:
    lookups = LookupCount(total=12, path=["include:big.test", "  include:bigger.test"])
    desired = build(domain(), "example.test", [], ttl=300, lookups=lookups)
    [refusal] = desired.refusals
    assert "12 DNS lookups" in refusal.reason and "include:bigger.test" in refusal.reason
    assert not refusal.forceable


def test_retired_selectors_are_in_scope_with_nothing_wanted() -> None:
    desired = build(domain(dkim_removed=("mp202512",)), "example.test", [], ttl=300)
    old = Record("mp202512._domainkey.news.example.test", "TXT", "v=DKIM1; p=old", 300)
    assert desired.scope_of(old) is not None
    assert not [w for w in desired.wanted if w.record.name == old.name]


def test_the_set_says_what_the_panel_will_own_once_applied() -> None:
    existing = [
        Record("news.example.test", "TXT", "v=spf1 ip4:192.0.2.25 mx -all", 300),
        Record("_dmarc.news.example.test", "TXT", "v=DMARC1; p=none; rua=mailto:x@y.test", 300),
    ]
    ours = build(domain(), "example.test", existing, ttl=300).ours
    assert ours.spf == ("ip6:2001:db8::25",)  # the ip4 term was the owner's already
    assert ours.dmarc_uris == ours.tls_rpt_uris == ("mailto:dmarc@example.test",)
    assert ours.mx == ("mail.example.test",)
    assert ours.hosts == (
        ("mail.example.test", "A", "192.0.2.25"),
        ("mail.example.test", "AAAA", "2001:db8::25"),
    )
    assert Published.from_json(ours.to_json()) == ours


def test_a_ledger_of_the_first_version_is_read_with_what_it_meant() -> None:
    old = {
        "spf": ["ip4:192.0.2.25"],
        "report_uris": ["mailto:dmarc@example.test"],
        "hosts": [["mail.example.test", "A", "192.0.2.25"], ["mail.example.test", "AAAA", "::1"]],
    }
    read = Published.from_json(old)
    assert read.dmarc_uris == read.tls_rpt_uris == ("mailto:dmarc@example.test",)
    assert read.mx == ("mail.example.test",)  # that version's MX was always at its mail host
    assert read.spf == ("ip4:192.0.2.25",) and len(read.hosts) == 2
    moved = domain(mail_host="mx2.example.test", published=read)
    mx = Record("news.example.test", "MX", "mail.example.test", 300, 10)
    assert build(moved, "example.test", [mx], ttl=300).scope_of(mx) is not None


def test_the_address_of_a_mail_host_the_domain_left_comes_down_and_only_that() -> None:
    before = Published(hosts=(("mail.example.test", "A", "192.0.2.25"),))
    moved = domain(mail_host="mx2.example.test", ipv4=("192.0.2.26",), ipv6=(), published=before)
    old = Record("mail.example.test", "A", "192.0.2.25", 300)
    theirs = Record("mail.example.test", "A", "198.51.100.1", 300)
    desired = build(moved, "example.test", [old, theirs], ttl=300)
    assert desired.scope_of(old) is not None and desired.scope_of(theirs) is None
    assert not [w for w in desired.wanted if w.record.name == "mail.example.test"]
    assert any("mail.example.test A 192.0.2.25 comes down" in n for n in desired.notes)


def test_a_domain_that_receives_elsewhere_keeps_its_mx_mta_sts_and_tls_rpt() -> None:
    theirs = [
        Record("news.example.test", "MX", "aspmx.mail.test", 300, 1),
        Record("_mta-sts.news.example.test", "TXT", "v=STSv1; id=theirs", 300),
        Record("_smtp._tls.news.example.test", "TXT", "v=TLSRPTv1; rua=mailto:t@x.test", 300),
    ]
    desired = build(domain(serves_policy=True), "example.test", theirs, ttl=300)
    assert all(desired.scope_of(r) is None for r in theirs)
    kinds = {w.kind for w in desired.wanted}
    assert kinds == {"host", "spf", "dkim", "dmarc"}
    assert any("receives its mail at aspmx.mail.test; the panel leaves" in n for n in desired.notes)
    assert desired.ours.mx == () and desired.ours.tls_rpt_uris == ()
    assert not [n for n in build(domain(), "example.test", [], ttl=300).notes if "MX" in n]


def test_an_mx_the_panel_published_for_a_former_host_is_replaced() -> None:
    old = Record("news.example.test", "MX", "mail.example.test", 300, 10)
    moved = domain(mail_host="mx2.example.test", published=Published(mx=("mail.example.test",)))
    desired = build(moved, "example.test", [old], ttl=300)
    assert desired.scope_of(old) is not None
    assert wanted(desired)[("news.example.test", "MX")] == ["mx2.example.test"]


def test_dmarc_and_tls_rpt_report_addresses_are_each_their_own() -> None:
    # The owner's DMARC reports go to the address the panel gives TLS-RPT: never taken back.
    existing = [
        Record("_dmarc.news.example.test", "TXT", "v=DMARC1; p=none; rua=mailto:r@x.test", 300)
    ]
    before = Published(tls_rpt_uris=("mailto:r@x.test",))
    desired = build(domain(report_address="", published=before), "example.test", existing, 300)
    [dmarc] = wanted(desired)[("_dmarc.news.example.test", "TXT")]
    assert "rua=mailto:r@x.test" in dmarc


def test_a_former_mail_host_another_server_still_uses_keeps_its_address() -> None:
    before = Published(hosts=(("mail.example.test", "A", "192.0.2.25"),))
    moved = domain(
        mail_host="mx2.example.test",
        published=before,
        hosts_in_use=("mail.example.test", "mx2.example.test"),
    )
    old = Record("mail.example.test", "A", "192.0.2.25", 300)
    desired = build(moved, "example.test", [old], ttl=300)
    assert desired.scope_of(old) is None
    assert ("mail.example.test", "A", "192.0.2.25") in desired.ours.hosts  # still the panel's


def test_a_server_that_serves_the_policy_gets_the_mta_sts_name() -> None:
    desired = build(domain(serves_policy=True), "example.test", [], ttl=300)
    records = wanted(desired)
    assert records[("mta-sts.news.example.test", "A")] == ["192.0.2.25"]
    assert records[("mta-sts.news.example.test", "AAAA")] == ["2001:db8::25"]
    assert ("mta-sts.news.example.test", "A", "192.0.2.25") in desired.ours.hosts
    assert not [n for n in desired.notes if "MTA-STS" in n]


def test_a_self_signed_server_gets_no_mta_sts_record_and_no_policy_host() -> None:
    # No policy is served without a certificate senders trust: an id would point at nothing.
    desired = build(domain(serves_policy=False), "example.test", [], ttl=300)
    records = wanted(desired)
    assert ("_mta-sts.news.example.test", "TXT") not in records
    assert not [name for name, _ in records if name.startswith("mta-sts.")]
    assert not [w for w in desired.wanted if w.kind == "mta-sts"]
    assert desired.ours.mta_sts is False
    assert any("no MTA-STS record is published" in n for n in desired.notes)


def test_an_acme_server_gets_the_mta_sts_id_of_the_policy_it_serves() -> None:
    desired = build(domain(serves_policy=True), "example.test", [], ttl=300)
    assert wanted(desired)[("_mta-sts.news.example.test", "TXT")] == [
        f"v=STSv1; id={mta_sts_id(mta_sts_policy('mail.example.test'))}"
    ]
    assert desired.ours.mta_sts is True


def test_the_panels_mta_sts_record_comes_down_once_no_policy_is_served() -> None:
    ours = Record("_mta-sts.news.example.test", "TXT", "v=STSv1; id=old", 300)
    before = Published(mx=("mail.example.test",), mta_sts=True)
    desired = build(domain(published=before), "example.test", [ours], ttl=300)
    plan = make_plan(desired, [ours], lambda ttl: (ttl, None), zone="example.test")
    [change] = [c for c in plan.changes if c.kind == "mta-sts"]
    assert change.action is Action.DELETE and change.change.before == ours
    assert plan.ours.mta_sts is False  # the next plan leaves the name alone


def test_an_mta_sts_record_the_panel_did_not_publish_is_left_alone() -> None:
    theirs = Record("_mta-sts.news.example.test", "TXT", "v=STSv1; id=theirs", 300)
    before = Published(mx=("mail.example.test",))  # an MX, but no _mta-sts of the panel's
    desired = build(domain(published=before), "example.test", [theirs], ttl=300)
    assert desired.scope_of(theirs) is None


def test_a_ledger_from_before_the_mta_sts_flag_counts_the_record_as_the_panels() -> None:
    # Until now the panel published the _mta-sts TXT with every MX of its own.
    legacy = {"spf": [], "dmarc_uris": [], "tls_rpt_uris": [], "mx": ["mail.example.test"]}
    assert Published.from_json(legacy).mta_sts is True
    assert Published.from_json({**legacy, "mx": []}).mta_sts is False
    assert Published.from_json(Published(mta_sts=True).to_json()).mta_sts is True


def test_a_server_that_starts_serving_the_policy_gets_the_record_at_the_next_plan() -> None:
    self_signed = build(domain(), "example.test", [], ttl=300)
    assert ("_mta-sts.news.example.test", "TXT") not in wanted(self_signed)
    later = domain(serves_policy=True, published=self_signed.ours)
    assert ("_mta-sts.news.example.test", "TXT") in wanted(build(later, "example.test", [], 300))


def test_without_an_acme_certificate_the_policy_name_is_not_published_and_comes_down() -> None:
    before = Published(hosts=(("mta-sts.news.example.test", "A", "192.0.2.25"),))
    old = Record("mta-sts.news.example.test", "A", "192.0.2.25", 300)
    desired = build(domain(published=before), "example.test", [old], ttl=300)
    assert not [w for w in desired.wanted if w.record.name.startswith("mta-sts.")]
    assert desired.scope_of(old) is not None  # the panel's own record is taken back
    assert any("only by a server with an ACME certificate" in n for n in desired.notes)


def test_a_cname_at_the_policy_name_is_left_alone() -> None:
    theirs = Record("mta-sts.news.example.test", "CNAME", "policies.service.test", 300)
    desired = build(domain(serves_policy=True), "example.test", [theirs], ttl=300)
    assert not [w for w in desired.wanted if w.record.name.startswith("mta-sts.")]
    assert desired.scope_of(theirs) is None
    assert any("is a CNAME" in n for n in desired.notes)


def test_enforce_is_announced_only_once_the_server_serves_it() -> None:
    enforce = mta_sts_policy("mail.example.test", "enforce")
    old = Record("_mta-sts.news.example.test", "TXT", "v=STSv1; id=testing1", 300)
    waiting = build(
        domain(serves_policy=True, mta_sts_mode="enforce", policy_problem="answered 404"),
        "example.test",
        [old],
        ttl=300,
    )
    assert waiting.scope_of(old) is None  # the id of the policy senders can fetch stays
    assert any(
        "enforce is announced once the server serves it (answered 404)" in n for n in waiting.notes
    )

    served = build(
        domain(serves_policy=True, mta_sts_mode="enforce", served_policy=enforce),
        "example.test",
        [old],
        ttl=300,
    )
    assert wanted(served)[("_mta-sts.news.example.test", "TXT")] == [
        f"v=STSv1; id={mta_sts_id(enforce)}"
    ]


def test_weakening_the_dmarc_policy_in_force_waits_for_the_owner_to_force_it() -> None:
    own = [Record("_dmarc.news.example.test", "TXT", "v=DMARC1; p=reject", 300)]
    desired = build(domain(dmarc_policy="none"), "example.test", own, ttl=300)
    [refusal] = desired.refusals
    assert refusal.forceable and "p=reject today" in refusal.reason and "p=none" in refusal.reason
    assert not build(domain(dmarc_policy="reject"), "example.test", own, ttl=300).refusals

    # A subdomain inherits the parent's sp= (else p=): its own p=none would override it.
    parent = [Record("_dmarc.example.test", "TXT", "v=DMARC1; p=none; sp=quarantine", 300)]
    inherited = build(domain(dmarc_policy="none"), "example.test", parent, ttl=300)
    assert "p=quarantine today (published at example.test)" in inherited.refusals[0].reason
    assert not build(domain(dmarc_policy="quarantine"), "example.test", parent, 300).refusals
