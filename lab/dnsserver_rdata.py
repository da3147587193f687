"""Turning zone-store records (provider content format) into DNS rdata."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from lab.dnsserver_data import Record
from lab.zonestore import txt_strings

log = logging.getLogger(__name__)

IN = dns.rdataclass.IN
# Cloudflare stores TTL 1 for "automatic"; real resolvers then see 300.
AUTO_TTL = 300
SOA_TTL = 60
# Short negative caching: the lab changes records all the time.
SOA_MINIMUM = 30


def ttl_of(record: Record) -> int:
    return record.ttl if record.ttl > 1 else AUTO_TTL


def from_text(rdtype: str, text: str) -> dns.rdata.Rdata:
    # Origin root: host names stored without a trailing dot are absolute, not relative.
    rdtype_value = dns.rdatatype.from_text(rdtype)
    return dns.rdata.from_text(IN, rdtype_value, text, dns.name.root, relativize=False)


def txt_rdata(rdtype: str, content: str) -> dns.rdata.Rdata:
    """TXT strings as the zone store defines them, cut again at 255 bytes (not characters)."""
    strings: list[bytes] = []
    for text in txt_strings(content):
        raw = text.encode("utf-8")
        strings += [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(IN, dns.rdatatype.from_text(rdtype), strings)


def with_priority(record: Record, fields: int) -> str:
    """MX/SRV text: priority comes from its own column unless the content already has it."""
    if len(record.content.split()) >= fields:
        return record.content
    return f"{record.priority or 0} {record.content}"


def caa_text(record: Record) -> str:
    # Some providers store CAA without the flags byte ("issue letsencrypt.org").
    return record.content if record.content[:1].isdigit() else f"0 {record.content}"


def generic_rdata(record: Record) -> dns.rdata.Rdata:
    """A, AAAA, CNAME, NS, PTR, SOA...: the content is already DNS presentation format."""
    return from_text(record.type, record.content)


BUILDERS: dict[str, Callable[[Record], dns.rdata.Rdata]] = {
    "TXT": lambda r: txt_rdata("TXT", r.content),
    "SPF": lambda r: txt_rdata("SPF", r.content),
    "MX": lambda r: from_text("MX", with_priority(r, 2)),
    "SRV": lambda r: from_text("SRV", with_priority(r, 4)),
    "CAA": lambda r: from_text("CAA", caa_text(r)),
}


def to_rdata(record: Record) -> dns.rdata.Rdata | None:
    """The rdata of a stored record, or None (logged) when its content is not valid."""
    build = BUILDERS.get(record.type, generic_rdata)
    try:
        return build(record)
    except (dns.exception.DNSException, ValueError, TypeError) as exc:
        log.warning(
            "lab dns: skipping bad %s record %s %r: %s",
            record.type,
            record.name,
            record.content,
            exc,
        )
        return None


def synthetic_soa(apex: str, ns_name: str) -> dns.rdata.Rdata:
    """The SOA of a zone whose store holds none; the serial follows the clock."""
    hostmaster = f"hostmaster.{apex}." if apex else "hostmaster."
    text = f"{ns_name}. {hostmaster} {int(time.time())} 3600 600 86400 {SOA_MINIMUM}"
    return from_text("SOA", text)


def synthetic_ns(ns_name: str) -> dns.rdata.Rdata:
    return from_text("NS", f"{ns_name}.")
