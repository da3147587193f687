"""Building the authoritative answer to one DNS query from a zone-store snapshot."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from lab.dnsserver_data import Record, Snapshot, Zone
from lab.dnsserver_rdata import (
    SOA_TTL,
    synthetic_ns,
    synthetic_soa,
    to_rdata,
    ttl_of,
)

IN = dns.rdataclass.IN
MAX_CNAME_CHAIN = 8


class Answerer:
    """Fills a response for one question; follows CNAMEs inside the data it holds."""

    def __init__(self, snapshot: Snapshot, response: dns.message.Message, ns_name: str) -> None:
        self.snapshot = snapshot
        self.response = response
        self.ns_name = ns_name

    def add(
        self, section: list[dns.rrset.RRset], owner: str, rd: dns.rdata.Rdata, ttl: int
    ) -> None:
        name = dns.name.from_text(owner or ".")
        rrset = self.response.find_rrset(section, name, IN, rd.rdtype, create=True)
        rrset.add(rd, ttl)

    def add_soa(self, zone: Zone) -> None:
        """The zone's SOA in authority, as NXDOMAIN and NODATA answers need it."""
        stored = [r for r in self.snapshot.records_at(zone, zone.apex) if r.type == "SOA"]
        rd = to_rdata(stored[0]) if stored else None
        self.add(
            self.response.authority,
            zone.apex,
            rd or synthetic_soa(zone.apex, self.ns_name),
            SOA_TTL,
        )

    def records(self, zone: Zone, name: str) -> tuple[list[Record], bool]:
        """Records at `name` (or its wildcard) and whether the name exists at all."""
        found = self.snapshot.records_at(zone, name)
        if found or self.snapshot.exists(zone, name):
            return found, True
        wildcard = self.snapshot.wildcard_records(zone, name)
        return wildcard, bool(wildcard)

    def apex_defaults(self, zone: Zone, name: str, rdtype: str, found: list[Record]) -> bool:
        """Synthesize SOA/NS at an apex whose store has none (providers keep them apart)."""
        if name != zone.apex or any(r.type == rdtype for r in found):
            return False
        if rdtype == "SOA":
            self.add(self.response.answer, name, synthetic_soa(name, self.ns_name), SOA_TTL)
            return True
        if rdtype == "NS":
            self.add(self.response.answer, name, synthetic_ns(self.ns_name), SOA_TTL)
            return True
        return False

    def resolve(self, name: str, rdtype: str, seen: tuple[str, ...] = ()) -> None:
        zone = self.snapshot.zone_for(name)
        if zone is None:
            if not seen:  # the question itself is outside everything we serve
                self.response.set_rcode(dns.rcode.REFUSED)
                self.response.flags &= ~dns.flags.AA
            return  # a CNAME target elsewhere: the client resolves it itself
        found, exists = self.records(zone, name)
        if not exists:
            self.response.set_rcode(dns.rcode.NXDOMAIN)
            self.add_soa(zone)
            return
        matching = [r for r in found if rdtype in (r.type, "ANY")]
        cnames = [r for r in found if r.type == "CNAME"]
        if not matching and cnames and rdtype != "CNAME":
            self.follow_cname(name, rdtype, cnames[0], seen)
            return
        added = sum(self.add_record(name, r) for r in matching)
        if not added and not self.apex_defaults(zone, name, rdtype, found):
            self.add_soa(zone)  # NODATA

    def add_record(self, owner: str, record: Record) -> bool:
        rd = to_rdata(record)
        if rd is not None:
            self.add(self.response.answer, owner, rd, ttl_of(record))
        return rd is not None

    def follow_cname(self, name: str, rdtype: str, cname: Record, seen: tuple[str, ...]) -> None:
        if not self.add_record(name, cname):
            return
        target = cname.content.strip().rstrip(".").lower()
        if target not in seen and len(seen) < MAX_CNAME_CHAIN:
            self.resolve(target, rdtype, (*seen, name))


def question_name(query: dns.message.Message) -> str:
    return str(query.question[0].name.to_text(omit_final_dot=True)).lower().rstrip(".")


def build_response(
    query: dns.message.Message, snapshot: Snapshot | None, ns_name: str
) -> dns.message.Message:
    """The whole response; `snapshot` None means the zone store could not be read."""
    response = dns.message.make_response(query)
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
    elif len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
    elif query.question[0].rdclass != IN:
        response.set_rcode(dns.rcode.REFUSED)
    elif snapshot is None:
        response.set_rcode(dns.rcode.SERVFAIL)
    else:
        response.flags |= dns.flags.AA
        rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
        Answerer(snapshot, response, ns_name).resolve(question_name(query), rdtype)
    return response
