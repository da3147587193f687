"""The mail record set a sending domain wants in its zone, and which records the panel owns.

Pure functions over plain data: `MailDomain` says what the panel knows about the domain,
`build` turns it (with the zone's current records, for the SPF merge) into a `DesiredSet`:
the records wanted, and the *scopes* of records the panel manages. A record outside every
scope is never touched: at the apex only the SPF TXT is ours, at `_dmarc` only the DMARC TXT.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailpanel.dns.providers.base import in_zone
from mailpanel.dns.spf import LookupCount, SpfMerge, is_spf, merge_spf
from mailpanel.dns.types import Record

MX_PRIORITY = 10
MTA_STS_MODE = "testing"  # enforce only once the owner serves the policy over HTTPS
MTA_STS_MAX_AGE = 86400


@dataclass(frozen=True)
class DkimPublication:
    selector: str
    value: str  # the logical TXT value; providers split it into 255-byte strings


@dataclass(frozen=True)
class MailDomain:
    """What the records are made from: the domain, its server, keys and reporting choices."""

    name: str  # A-label, no trailing dot
    mail_host: str
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    dkim: tuple[DkimPublication, ...] = ()  # published selectors
    dkim_removed: tuple[str, ...] = ()  # selectors of retired keys: taken down
    dmarc_policy: str = "none"
    report_address: str = ""


@dataclass(frozen=True)
class Scope:
    """Existing records of this name and type (TXT: starting with `prefix`) are the panel's."""

    kind: str  # host, mx, spf, dkim, dmarc, mta-sts, tls-rpt
    name: str
    type: str
    prefix: str = ""

    def covers(self, record: Record) -> bool:
        if (record.name, record.type) != (self.name, self.type):
            return False
        return not self.prefix or record.content.strip().lower().startswith(self.prefix.lower())


@dataclass(frozen=True)
class Wanted:
    record: Record
    kind: str


@dataclass(frozen=True)
class Refusal:
    reason: str
    forceable: bool = False


@dataclass
class DesiredSet:
    wanted: list[Wanted] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    def scope_of(self, record: Record) -> Scope | None:
        return next((s for s in self.scopes if s.covers(record)), None)

    def add(self, scope: Scope, *contents: tuple[str, int | None], ttl: int) -> None:
        self.scopes.append(scope)
        for content, priority in contents:
            record = Record(scope.name, scope.type, content, ttl, priority)
            if all(not w.record.same_data(record) for w in self.wanted):
                self.wanted.append(Wanted(record, scope.kind))


KIND_TITLES = {
    "host": "the mail host's address",
    "mx": "MX: where replies and bounces go",
    "spf": "SPF: who may send",
    "dkim": "DKIM: the signing key",
    "dmarc": "DMARC policy",
    "mta-sts": "MTA-STS: TLS required for inbound mail",
    "tls-rpt": "TLS-RPT: reports on TLS failures",
}


def apex_spf(existing: Sequence[Record], name: str) -> list[str]:
    return [r.content for r in existing if r.name == name and r.type == "TXT" and is_spf(r.content)]


def mta_sts_policy(domain: MailDomain) -> str:
    return (
        f"version: STSv1\nmode: {MTA_STS_MODE}\nmx: {domain.mail_host}\n"
        f"max_age: {MTA_STS_MAX_AGE}\n"
    )


def mta_sts_id(policy: str) -> str:
    """Changes exactly when the policy does, so senders refetch it then (1-32 alphanumerics)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def dmarc_value(policy: str, report_address: str) -> str:
    value = f"v=DMARC1; p={policy}"
    return value + (f"; rua=mailto:{report_address}" if report_address else "")


def tls_rpt_value(domain: MailDomain) -> str:
    return f"v=TLSRPTv1; rua=mailto:{domain.report_address or 'postmaster@' + domain.name}"


def build(
    domain: MailDomain,
    zone: str,
    existing: Sequence[Record],
    ttl: int,
    spf: SpfMerge | None = None,
    lookups: LookupCount | None = None,
) -> DesiredSet:
    """The records `domain` wants in `zone`; `spf` merged from the zone's, `lookups` counted."""
    desired = DesiredSet()
    if not in_zone(domain.name, zone):
        desired.refusals.append(Refusal(f"{domain.name} is not inside the zone {zone}"))
        return desired
    _host(desired, domain, zone, existing, ttl)
    name = domain.name
    desired.add(Scope("mx", name, "MX"), (domain.mail_host, MX_PRIORITY), ttl=ttl)
    _spf(desired, domain, existing, ttl, spf, lookups)
    for key in domain.dkim:
        scope = Scope("dkim", f"{key.selector}._domainkey.{name}", "TXT")
        desired.add(scope, (key.value, None), ttl=ttl)
    for selector in domain.dkim_removed:
        desired.scopes.append(Scope("dkim", f"{selector}._domainkey.{name}", "TXT"))
    dmarc = dmarc_value(domain.dmarc_policy, domain.report_address)
    desired.add(Scope("dmarc", f"_dmarc.{name}", "TXT", "v=DMARC1"), (dmarc, None), ttl=ttl)
    sts = f"v=STSv1; id={mta_sts_id(mta_sts_policy(domain))}"
    desired.add(Scope("mta-sts", f"_mta-sts.{name}", "TXT", "v=STSv1"), (sts, None), ttl=ttl)
    rpt = tls_rpt_value(domain)
    desired.add(Scope("tls-rpt", f"_smtp._tls.{name}", "TXT", "v=TLSRPTv1"), (rpt, None), ttl=ttl)
    return desired


def _host(
    desired: DesiredSet, domain: MailDomain, zone: str, existing: Sequence[Record], ttl: int
) -> None:
    host = domain.mail_host
    if not in_zone(host, zone):
        desired.notes.append(
            f"the mail host {host} is outside the zone {zone}: its address is "
            "published where that name lives"
        )
        return
    if host == zone:
        desired.notes.append(f"the mail host is the zone apex {zone}: its A/AAAA are left to you")
        return
    if any(r.name == host and r.type == "CNAME" for r in existing):
        desired.refusals.append(
            Refusal(
                f"{host} is a CNAME in the zone: the panel will not replace it with A/AAAA records;"
                " remove the CNAME or choose another mail hostname"
            )
        )
        return
    if not domain.ipv4 and not domain.ipv6:
        desired.refusals.append(
            Refusal(
                f"the panel does not know {host}'s IP addresses yet: "
                "gather the server's facts first"
            )
        )
        return
    desired.add(Scope("host", host, "A"), *((a, None) for a in domain.ipv4), ttl=ttl)
    desired.add(Scope("host", host, "AAAA"), *((a, None) for a in domain.ipv6), ttl=ttl)


def _spf(
    desired: DesiredSet,
    domain: MailDomain,
    existing: Sequence[Record],
    ttl: int,
    spf: SpfMerge | None,
    lookups: LookupCount | None,
) -> None:
    merged = spf or merge_spf(apex_spf(existing, domain.name), domain.ipv4, domain.ipv6)
    desired.notes.extend(merged.notes)
    desired.add(Scope("spf", domain.name, "TXT", "v=spf1"), (merged.value, None), ttl=ttl)
    if lookups is None:
        return
    desired.notes.extend(f"SPF: {problem}" for problem in lookups.problems)
    if lookups.over_limit:
        path = "; ".join(p.strip() for p in lookups.path)
        desired.refusals.append(
            Refusal(
                f"the SPF record would need {lookups.total} DNS lookups, more than the 10 "
                "receivers allow (they would fail every message with permerror). "
                f"Lookups: {path}. Replace includes by "
                "ip4:/ip6: ranges or remove services you no longer send through."
            )
        )
