"""SPF merging and lookup counting (counting asks the lab's DNS server, in this process)."""

from __future__ import annotations

from typing import Any

import dns.asyncresolver

from lab.dnsserver import DnsServer
from lab.zonestore import ZoneStore
from mailpanel.dns.spf import all_qualifier, count_lookups, merge_spf
from mailpanel.dns.verify import txt_resolver

V4, V6 = ("192.0.2.25",), ("2001:db8::25",)


def test_a_new_record_lists_the_server_and_fails_everything_else() -> None:
    merged = merge_spf([], V4, V6)
    assert merged.value == "v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all"
    assert not merged.notes


def test_an_existing_record_keeps_its_mechanisms_and_its_all_qualifier() -> None:
    merged = merge_spf(["v=spf1 include:_spf.mailer.test mx ~all"], V4, ())
    assert merged.value == "v=spf1 include:_spf.mailer.test mx ip4:192.0.2.25 ~all"
    assert all_qualifier(merged.value) == "~"


def test_an_address_already_covered_by_a_range_is_not_added_again() -> None:
    existing = "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
    assert merge_spf([existing], V4, V6).value == existing


def test_two_records_become_one_that_still_evaluates_every_mechanism() -> None:
    merged = merge_spf(["v=spf1 include:a.test -all", "v=spf1 include:b.test ?all"], V4, ())
    # Nothing after `all` is evaluated: b.test's senders must come before it.
    assert merged.value == "v=spf1 include:a.test include:b.test ip4:192.0.2.25 -all"
    assert "merges them into one, ending in -all (merged: ?all)" in merged.notes[0]


def test_the_terms_the_panel_added_are_its_own() -> None:
    assert merge_spf([], V4, V6).ours == ("ip4:192.0.2.25", "ip6:2001:db8::25")
    merged = merge_spf(["v=spf1 mx ip4:192.0.2.25 ~all"], V4, V6)
    assert merged.ours == ("ip6:2001:db8::25",)  # the owner wrote the ip4 term


def test_an_address_the_server_lost_is_taken_back_but_never_the_owners() -> None:
    published = "v=spf1 mx ip4:198.51.100.9 ip4:203.0.113.4 ip4:192.0.2.25 -all"
    merged = merge_spf([published], ("192.0.2.26",), (), ours=("ip4:203.0.113.4", "ip4:192.0.2.25"))
    assert merged.value == "v=spf1 mx ip4:198.51.100.9 ip4:192.0.2.26 -all"
    assert merged.ours == ("ip4:192.0.2.26",)
    assert "takes back ip4:203.0.113.4 ip4:192.0.2.25" in merged.notes[0]


def test_a_term_the_panel_added_stays_while_the_server_has_the_address() -> None:
    published = "v=spf1 include:mailer.test ip4:192.0.2.25 -all"
    merged = merge_spf([published], V4, (), ours=("ip4:192.0.2.25",))
    assert merged.value == published and not merged.notes
    assert merged.ours == ("ip4:192.0.2.25",)


def test_new_addresses_go_before_a_redirect_when_there_is_no_all() -> None:
    merged = merge_spf(["v=spf1 a redirect=_spf.parent.test"], V4, ())
    assert merged.value == "v=spf1 a ip4:192.0.2.25 redirect=_spf.parent.test"


def resolver_for(server: DnsServer) -> dns.asyncresolver.Resolver:
    res = dns.asyncresolver.Resolver(configure=False)
    res.nameservers, res.port, res.lifetime = [server.host], server.port, 3.0
    return res


def publish_txt(store: ZoneStore, values: dict[str, str]) -> None:
    zone = store.create_zone("lab", "tests", "spf.test")
    for name, value in values.items():
        store.add_record(zone["id"], name, "TXT", value, 300)


async def test_lookups_are_counted_through_includes_at_the_resolver(
    store: ZoneStore, dns_server: DnsServer, settings: Any
) -> None:
    publish_txt(
        store,
        {
            "a.spf.test": "v=spf1 include:b.spf.test mx -all",
            "b.spf.test": "v=spf1 a exists:%{i}.x.spf.test ip4:198.51.100.0/24 -all",
        },
    )
    value = "v=spf1 include:a.spf.test a ip4:192.0.2.25 -all"

    count = await count_lookups(value, txt_resolver(resolver_for(dns_server)))

    # include:a (1) + its include:b (2) + mx (3) + b's a (4) + exists (5) + our a (6)
    assert count.total == 6 and not count.over_limit
    assert not count.problems
    assert any("b.spf.test" in step for step in count.path)


async def test_more_than_ten_lookups_is_over_the_limit_and_loops_end(
    store: ZoneStore, dns_server: DnsServer
) -> None:
    chain = {f"l{i}.spf.test": f"v=spf1 include:l{i + 1}.spf.test a -all" for i in range(8)}
    chain["l8.spf.test"] = "v=spf1 include:l0.spf.test -all"  # a loop back to the start
    publish_txt(store, chain)

    count = await count_lookups(
        "v=spf1 include:l0.spf.test -all", txt_resolver(resolver_for(dns_server))
    )

    assert count.over_limit and count.total > 10


async def test_an_include_without_spf_is_reported(store: ZoneStore, dns_server: DnsServer) -> None:
    publish_txt(store, {"nospf.spf.test": "hello"})
    count = await count_lookups(
        "v=spf1 include:nospf.spf.test include:gone.spf.test -all",
        txt_resolver(resolver_for(dns_server)),
    )
    assert count.total == 2
    assert any("nospf.spf.test has no SPF record" in p for p in count.problems)
    assert any("gone.spf.test could not be looked up" in p for p in count.problems)


def test_a_redirect_in_a_merged_record_becomes_an_include_and_the_strictest_all_ends_it() -> None:
    records = ["v=spf1 redirect=_spf.mailer.test", "v=spf1 ip4:198.51.100.7 ~all exp=a.test"]
    merged = merge_spf(records, V4, ())
    assert merged.value == (
        "v=spf1 ip4:198.51.100.7 exp=a.test include:_spf.mailer.test ip4:192.0.2.25 ~all"
    )
    both = merge_spf(["v=spf1 a ~all exp=a.test", "v=spf1 mx -all exp=b.test"], V4, ())
    assert both.value == "v=spf1 a exp=a.test mx ip4:192.0.2.25 -all"
    swapped = merge_spf(["v=spf1 mx -all exp=b.test", "v=spf1 a ~all exp=a.test"], V4, ())
    assert swapped.value.endswith(" -all") and swapped.value.count("exp=") == 1
