"""The lab DNS server answers from the zone store, over real UDP and TCP on loopback."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from lab.dnsserver import DnsServer
from lab.zonestore import ZoneStore

HOST = "127.0.0.1"
DKIM_KEY = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.sqlite3") as zone_store:
        yield zone_store


@pytest.fixture
def server(store: ZoneStore) -> Iterator[DnsServer]:
    with DnsServer(store.path, HOST, 0) as dns_server:
        yield dns_server


@pytest.fixture
def zone(store: ZoneStore) -> str:
    """example.com at the Cloudflare fake, delegated to lab DNS; returns its id."""
    zone_id = str(store.create_zone("cloudflare", "acct-1", "example.com")["id"])
    store.add_record(zone_id, "example.com", "A", "192.0.2.10", 300)
    store.add_record(zone_id, "example.com", "AAAA", "2001:db8::10", 300)
    return zone_id


def ask(
    server: DnsServer, name: str, rdtype: str, *, tcp: bool = False, **query: Any
) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype, **query)
    if tcp:
        return dns.query.tcp(message, HOST, port=server.port, timeout=2)
    return dns.query.udp(message, HOST, port=server.port, timeout=2)


def answer_texts(response: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in response.answer for rd in rrset)


def txt_strings(response: dns.message.Message) -> list[tuple[bytes, ...]]:
    return [tuple(rd.strings) for rrset in response.answer for rd in rrset]


def test_a_and_aaaa_are_answered_authoritatively(server: DnsServer, zone: str) -> None:
    response = ask(server, "example.com", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert answer_texts(response) == ["192.0.2.10"]
    assert answer_texts(ask(server, "EXAMPLE.com.", "AAAA")) == ["2001:db8::10"]


def test_mx_carries_priority_and_an_absolute_target(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    store.add_record(zone, "example.com", "MX", "mail.example.com", 300, priority=10)
    store.add_record(zone, "example.com", "MX", "backup.example.net.", 300, priority=20)
    texts = answer_texts(ask(server, "example.com", "MX"))
    assert texts == ["10 mail.example.com.", "20 backup.example.net."]


def test_quoted_txt_is_served_unquoted(server: DnsServer, store: ZoneStore, zone: str) -> None:
    store.add_record(zone, "example.com", "TXT", '"v=spf1 ip4:192.0.2.10 -all"', 300)
    assert txt_strings(ask(server, "example.com", "TXT")) == [(b"v=spf1 ip4:192.0.2.10 -all",)]


def test_several_quoted_strings_stay_separate(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    store.add_record(zone, "multi.example.com", "TXT", '"part one" "part \\"two\\""', 300)
    assert txt_strings(ask(server, "multi.example.com", "TXT")) == [(b"part one", b'part "two"')]


def test_long_bare_txt_is_split_into_255_byte_strings(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    store.add_record(zone, "sel1._domainkey.example.com", "TXT", DKIM_KEY, 300)
    [strings] = txt_strings(ask(server, "sel1._domainkey.example.com", "TXT"))
    assert [len(s) for s in strings] == [255, len(DKIM_KEY) - 255]
    assert b"".join(strings) == DKIM_KEY.encode()


def test_cname_is_chased_inside_served_data_only(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    store.add_record(zone, "www.example.com", "CNAME", "example.com", 300)
    store.add_record(zone, "cdn.example.com", "CNAME", "edge.elsewhere.test.", 300)
    assert answer_texts(ask(server, "www.example.com", "A")) == ["192.0.2.10", "example.com."]
    outside = ask(server, "cdn.example.com", "A")
    assert outside.rcode() == dns.rcode.NOERROR
    assert answer_texts(outside) == ["edge.elsewhere.test."]
    assert answer_texts(ask(server, "www.example.com", "CNAME")) == ["example.com."]


def test_soa_and_ns_are_synthesized_at_the_apex(server: DnsServer, zone: str) -> None:
    [soa] = ask(server, "example.com", "SOA").answer[0]
    assert soa.mname.to_text() == "ns.lab."
    assert soa.rname.to_text() == "hostmaster.example.com."
    assert answer_texts(ask(server, "example.com", "NS")) == ["ns.lab."]


def test_srv_and_caa_records(server: DnsServer, store: ZoneStore, zone: str) -> None:
    store.add_record(zone, "_imaps._tcp.example.com", "SRV", "5 993 mail.example.com", 300, 0)
    store.add_record(zone, "example.com", "CAA", '0 issue "letsencrypt.org"', 300)
    assert answer_texts(ask(server, "_imaps._tcp.example.com", "SRV")) == [
        "0 5 993 mail.example.com."
    ]
    assert answer_texts(ask(server, "example.com", "CAA")) == ['0 issue "letsencrypt.org"']


def test_ptr_from_static_reverse_records(server: DnsServer, store: ZoneStore) -> None:
    reverse = ipaddress.ip_address("10.200.1.2").reverse_pointer
    store.add_static(reverse, "PTR", "vps1.lab")
    assert answer_texts(ask(server, reverse, "PTR")) == ["vps1.lab."]
    missing = ask(server, ipaddress.ip_address("10.200.1.3").reverse_pointer, "PTR")
    assert missing.rcode() == dns.rcode.NXDOMAIN


def test_dnsbl_lists_an_address_and_not_another(server: DnsServer, store: ZoneStore) -> None:
    store.add_static("2.1.200.10.zen.lab", "A", "127.0.0.2")
    store.add_static("2.1.200.10.zen.lab", "TXT", "Listed by the lab DNSBL")

    def lookup(ip: str, rdtype: str = "A") -> dns.message.Message:
        reversed_ip = ".".join(reversed(ip.split(".")))
        return ask(server, f"{reversed_ip}.zen.lab", rdtype)

    assert answer_texts(lookup("10.200.1.2")) == ["127.0.0.2"]
    assert txt_strings(lookup("10.200.1.2", "TXT")) == [(b"Listed by the lab DNSBL",)]
    assert lookup("10.200.1.9").rcode() == dns.rcode.NXDOMAIN


def test_static_records_are_served_inside_a_provider_zone(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    store.add_static("mx.example.com", "A", "10.200.0.3")
    assert answer_texts(ask(server, "mx.example.com", "A")) == ["10.200.0.3"]
    nodata = ask(server, "mx.example.com", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert nodata.authority[0].name.to_text() == "example.com."


def test_delegation_switches_between_two_providers_zones(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    other = str(store.create_zone("namecom", "acct-2", "example.com")["id"])
    store.add_record(other, "example.com", "A", "198.51.100.7", 300)
    assert answer_texts(ask(server, "example.com", "A")) == ["192.0.2.10"]  # first zone kept it
    store.delegate("example.com", other)
    assert answer_texts(ask(server, "example.com", "A")) == ["198.51.100.7"]
    store.delegate("example.com", zone)
    assert answer_texts(ask(server, "example.com", "A")) == ["192.0.2.10"]


def test_a_change_is_visible_to_the_next_query(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    assert ask(server, "new.example.com", "A").rcode() == dns.rcode.NXDOMAIN
    record = store.add_record(zone, "new.example.com", "A", "192.0.2.20", 300)
    assert answer_texts(ask(server, "new.example.com", "A")) == ["192.0.2.20"]
    store.update_record(record["id"], content="192.0.2.21")
    assert answer_texts(ask(server, "new.example.com", "A")) == ["192.0.2.21"]
    store.delete_record(record["id"])
    assert ask(server, "new.example.com", "A").rcode() == dns.rcode.NXDOMAIN


def test_nxdomain_carries_the_zone_soa(server: DnsServer, zone: str) -> None:
    response = ask(server, "missing.example.com", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert [rrset.name.to_text() for rrset in response.authority] == ["example.com."]
    assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_nodata_carries_the_soa_also_for_empty_non_terminals(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    store.add_record(zone, "sel1._domainkey.example.com", "TXT", DKIM_KEY, 300)
    for name, rdtype in [("example.com", "TXT"), ("_domainkey.example.com", "TXT")]:
        response = ask(server, name, rdtype)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.answer == []
        assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_names_outside_every_served_zone_are_refused(server: DnsServer, zone: str) -> None:
    response = ask(server, "example.org", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_big_answers_set_tc_on_plain_udp_and_come_whole_over_tcp(
    server: DnsServer, store: ZoneStore, zone: str
) -> None:
    for index in range(12):
        store.add_record(zone, "big.example.com", "TXT", f"record {index} " + "x" * 60, 300)
    plain = ask(server, "big.example.com", "TXT")
    assert plain.flags & dns.flags.TC
    with_edns = ask(server, "big.example.com", "TXT", use_edns=0, payload=4096)
    assert not with_edns.flags & dns.flags.TC
    assert len(txt_strings(with_edns)) == 12
    over_tcp = ask(server, "big.example.com", "TXT", tcp=True)
    assert not over_tcp.flags & dns.flags.TC
    assert len(txt_strings(over_tcp)) == 12


def test_tcp_answers_like_udp(server: DnsServer, zone: str) -> None:
    assert answer_texts(ask(server, "example.com", "A", tcp=True)) == ["192.0.2.10"]
    assert ask(server, "missing.example.com", "A", tcp=True).rcode() == dns.rcode.NXDOMAIN


def test_a_dnspython_resolver_pointed_at_it_resolves(server: DnsServer, zone: str) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [HOST], server.port
    assert [rd.to_text() for rd in resolver.resolve("example.com", "A")] == ["192.0.2.10"]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("missing.example.com", "A")
    assert ("udp", "missing.example.com", "A") in server.queries


def test_wildcards_answer_for_missing_names(server: DnsServer, store: ZoneStore, zone: str) -> None:
    store.add_record(zone, "*.example.com", "A", "192.0.2.99", 300)
    response = ask(server, "anything.example.com", "A")
    assert response.answer[0].name.to_text() == "anything.example.com."
    assert answer_texts(response) == ["192.0.2.99"]


def test_automatic_ttl_is_served_as_300(server: DnsServer, store: ZoneStore, zone: str) -> None:
    store.add_record(zone, "auto.example.com", "A", "192.0.2.30", 1)
    assert ask(server, "auto.example.com", "A").answer[0].ttl == 300


def test_an_unreadable_store_answers_servfail(tmp_path: Path) -> None:
    with DnsServer(tmp_path / "absent.sqlite3", HOST, 0) as server:
        assert ask(server, "example.com", "A").rcode() == dns.rcode.SERVFAIL
    assert not (tmp_path / "absent.sqlite3").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def test_the_command_line_server_answers(store: ZoneStore, zone: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", "lab.dnsserver", "--db", str(store.path)]
    process = subprocess.Popen([*command, "--listen", HOST, "--port", str(port)])
    try:
        query = dns.message.make_query("example.com", "A")
        deadline = time.monotonic() + 15
        while True:
            try:
                response = dns.query.udp(query, HOST, port=port, timeout=0.2)
                break
            except (dns.exception.Timeout, ConnectionError):
                assert time.monotonic() < deadline, "lab.dnsserver did not answer"
        assert answer_texts(response) == ["192.0.2.10"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
