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
from typing import Any

from mailpanel.dns.providers.base import in_zone
from mailpanel.dns.reporting import merge_dmarc, merge_tls_rpt, parse_tags
from mailpanel.dns.spf import LookupCount, SpfMerge, is_spf, merge_spf
from mailpanel.dns.types import Record

MX_PRIORITY = 10
MTA_STS_MAX_AGE = 86400


@dataclass(frozen=True)
class DkimPublication:
    selector: str
    value: str  # the logical TXT value; providers split it into 255-byte strings


@dataclass(frozen=True)
class Published:
    """What the panel itself put in the zone at its last apply: all it may ever take back.

    Terms inside records shared with the owner (SPF mechanisms, the report addresses of
    DMARC and of TLS-RPT, each its own), the MX targets it published, address records
    (a mail host's, the MTA-STS policy host's) of names the domain may since have left, and
    whether the `_mta-sts` TXT is its own (taken back once no policy is served).
    """

    spf: tuple[str, ...] = ()
    dmarc_uris: tuple[str, ...] = ()
    tls_rpt_uris: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()
    hosts: tuple[tuple[str, str, str], ...] = ()  # (name, type, address)
    mta_sts: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "spf": list(self.spf),
            "dmarc_uris": list(self.dmarc_uris),
            "tls_rpt_uris": list(self.tls_rpt_uris),
            "mx": list(self.mx),
            "hosts": [list(h) for h in self.hosts],
            "mta_sts": self.mta_sts,
        }

    def union(self, other: Published) -> Published:
        def both(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(dict.fromkeys([*a, *b]))

        return Published(
            both(self.spf, other.spf),
            both(self.dmarc_uris, other.dmarc_uris),
            both(self.tls_rpt_uris, other.tls_rpt_uris),
            both(self.mx, other.mx),
            both(self.hosts, other.hosts),
            self.mta_sts or other.mta_sts,
        )

    @classmethod
    def from_json(cls, data: object) -> Published:
        if not isinstance(data, dict):
            return cls()

        def texts(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in data.get(key, []))

        hosts = tuple(
            (str(h[0]), str(h[1]), str(h[2]))
            for h in data.get("hosts", [])
            if isinstance(h, list | tuple) and len(h) == 3
        )
        if "mx" not in data:
            # A ledger of the first version: one list of report addresses for DMARC and
            # TLS-RPT, and an MX always at the mail host, whose names are those of `hosts`.
            legacy = texts("report_uris")
            mail_hosts = tuple(dict.fromkeys(name for name, _, _ in hosts))
            return cls(texts("spf"), legacy, legacy, mail_hosts, hosts, bool(mail_hosts))
        mx = texts("mx")
        # Ledgers from before `mta_sts`: the panel published the `_mta-sts` TXT with its MX.
        mta_sts = bool(data.get("mta_sts", bool(mx)))
        return cls(texts("spf"), texts("dmarc_uris"), texts("tls_rpt_uris"), mx, hosts, mta_sts)


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
    published: Published = Published()
    hosts_in_use: tuple[str, ...] = ()  # mail hosts of the owner's servers: never taken down
    serves_policy: bool = False  # the server serves the MTA-STS policy (ACME certificate)
    mta_sts_mode: str = "testing"
    # For enforce: the policy the server serves right now (fetched as a sender would), or why
    # there is none.
    served_policy: str | None = None
    policy_problem: str = ""


@dataclass(frozen=True)
class Scope:
    """Existing records of this name and type (TXT: starting with `prefix`) are the panel's."""

    kind: str  # host, mx, spf, dkim, dmarc, mta-sts, tls-rpt
    name: str
    type: str
    prefix: str = ""
    values: tuple[str, ...] = ()  # only records holding one of these exact values

    def covers(self, record: Record) -> bool:
        if (record.name, record.type) != (self.name, self.type):
            return False
        if self.values and record.content not in self.values:
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
    ours: Published = Published()  # what the panel will own once this set is applied

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
    "mta-sts": "MTA-STS: TLS for inbound mail, and where its policy is served",
    "tls-rpt": "TLS-RPT: reports on TLS failures",
}


def apex_spf(existing: Sequence[Record], name: str) -> list[str]:
    return [r.content for r in existing if r.name == name and r.type == "TXT" and is_spf(r.content)]


def tagged(existing: Sequence[Record], scope: Scope) -> list[str]:
    return [r.content for r in existing if scope.covers(r)]


def mta_sts_policy(mail_host: str, mode: str = "testing") -> str:
    """The policy file (RFC 8461 3.2), lines ending in CRLF as the RFC's grammar has them.

    `testing`: senders report TLS failures (TLS-RPT) but still deliver; `enforce`: they
    deliver only over TLS to an MX whose certificate they trust.
    """
    lines = [
        "version: STSv1",
        f"mode: {mode}",
        f"mx: {mail_host}",
        f"max_age: {MTA_STS_MAX_AGE}",
    ]
    return "".join(line + "\r\n" for line in lines)


def mta_sts_id(policy: str) -> str:
    """Changes exactly when the policy does, so senders refetch it then (1-32 alphanumerics)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


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
    name = domain.name
    hosts = _host(desired, domain, zone, existing, ttl)
    receives = _mx(desired, domain, existing, ttl)  # the domain's MX is this server
    if receives:
        hosts += _policy_host(desired, domain, existing, ttl)
    hosts += _former_hosts(desired, domain, zone, existing)
    spf_ours = _spf(desired, domain, existing, ttl, spf, lookups)
    for key in domain.dkim:
        scope = Scope("dkim", f"{key.selector}._domainkey.{name}", "TXT")
        desired.add(scope, (key.value, None), ttl=ttl)
    for selector in domain.dkim_removed:
        desired.scopes.append(Scope("dkim", f"{selector}._domainkey.{name}", "TXT"))
    scope = Scope("dmarc", f"_dmarc.{name}", "TXT", "v=DMARC1")
    dmarc = merge_dmarc(
        tagged(existing, scope),
        domain.dmarc_policy,
        domain.report_address,
        domain.published.dmarc_uris,
    )
    desired.add(scope, (dmarc.value, None), ttl=ttl)
    desired.notes.extend(dmarc.notes)
    _external_reports(desired, domain)
    _no_weaker_dmarc(desired, domain, zone, existing)
    rpt_ours: tuple[str, ...] = ()
    sts_ours = False
    if receives:
        sts_ours = _mta_sts(desired, domain, ttl)
        rpt_ours = _tls_rpt(desired, domain, existing, ttl)
    mx = (domain.mail_host,) if receives else ()
    desired.ours = Published(spf_ours, dmarc.ours, rpt_ours, mx, hosts, sts_ours)
    return desired


DMARC_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}


def _no_weaker_dmarc(
    desired: DesiredSet, domain: MailDomain, zone: str, existing: Sequence[Record]
) -> None:
    """A plan that would weaken the DMARC policy in force (the domain's own, or the one it
    inherits from a parent: `sp=`, else `p=`) waits for the owner to mean it."""
    in_force, where = "", ""
    own = [parse_tags(r.content) for r in existing if r.name == f"_dmarc.{domain.name}"]
    if own:
        in_force, where = dict(own[0]).get("p", ""), domain.name
    else:
        parent = domain.name
        while "." in parent and parent != zone and not in_force:
            parent = parent.split(".", 1)[1]
            found = [parse_tags(r.content) for r in existing if r.name == f"_dmarc.{parent}"]
            if found and any(v.upper() == "DMARC1" for k, v in found[0] if k == "v"):
                tags = dict(found[0])
                in_force, where = tags.get("sp", tags.get("p", "")), parent
    chosen = domain.dmarc_policy
    if DMARC_STRENGTH.get(in_force.lower(), -1) > DMARC_STRENGTH.get(chosen, 0):
        desired.refusals.append(
            Refusal(
                f"DMARC for {domain.name} is p={in_force.lower()} today (published at {where}); "
                f"this plan would weaken it to p={chosen}. Choose {in_force.lower()} in the "
                "domain's mail policy, or force the plan if you mean it",
                forceable=True,
            )
        )


def _external_reports(desired: DesiredSet, domain: MailDomain) -> None:
    """Reports to another domain arrive only if that domain agrees (RFC 7489 7.1)."""
    target = domain.report_address.rpartition("@")[2]
    if not target or domain.name == target or domain.name.endswith("." + target):
        return
    desired.notes.append(
        f"DMARC: reports for {domain.name} go to {target}, another domain; receivers send them "
        f'only if {target} publishes {domain.name}._report._dmarc.{target} TXT "v=DMARC1"'
    )


def _mta_sts(desired: DesiredSet, domain: MailDomain, ttl: int) -> bool:
    """The `_mta-sts` id of the policy wanted, only where the server serves a policy (an id
    without one makes senders look for a policy that is not there). Under enforce only once
    the server serves that very policy: a sender that sees a new id fetches the policy and
    enforces what it finds (RFC 8461 3.3), so an id ahead of the policy could pin it to an
    old one for max_age. Returns whether the record is the panel's once applied.
    """
    scope = Scope("mta-sts", f"_mta-sts.{domain.name}", "TXT", "v=STSv1")
    if not domain.serves_policy:
        if domain.published.mta_sts:
            desired.scopes.append(scope)  # nothing wanted in it: the panel's record comes down
        return False
    policy = mta_sts_policy(domain.mail_host, domain.mta_sts_mode)
    if domain.mta_sts_mode == "enforce" and domain.served_policy != policy:
        why = domain.policy_problem or "the server serves another version of the policy"
        desired.notes.append(
            f"MTA-STS: enforce is announced once the server serves it ({why}); provision the "
            "server, then plan again. The _mta-sts record stays as it is until then"
        )
        return domain.published.mta_sts
    sts = f"v=STSv1; id={mta_sts_id(policy)}"
    desired.add(scope, (sts, None), ttl=ttl)
    return True


def _tls_rpt(
    desired: DesiredSet, domain: MailDomain, existing: Sequence[Record], ttl: int
) -> tuple[str, ...]:
    """Where senders report TLS trouble with this server: the owner's report address."""
    scope = Scope("tls-rpt", f"_smtp._tls.{domain.name}", "TXT", "v=TLSRPTv1")
    if not domain.report_address:
        desired.notes.append(
            "TLS-RPT: no report address is set (the server itself takes no mail for "
            f"{domain.name}), so no TLS-RPT record; set one in the domain's mail policy"
        )
        return ()
    rpt = merge_tls_rpt(
        tagged(existing, scope), domain.report_address, domain.published.tls_rpt_uris
    )
    desired.add(scope, (rpt.value, None), ttl=ttl)
    desired.notes.extend(rpt.notes)
    return rpt.ours


def _mx(desired: DesiredSet, domain: MailDomain, existing: Sequence[Record], ttl: int) -> bool:
    """MX to the server, unless the domain already receives its mail elsewhere.

    An MX host the panel did not publish is someone's inbox (Google Workspace, the owner's
    own MX): the panel never takes it over, and then leaves MTA-STS and TLS-RPT, which
    describe those hosts, to whoever runs them. Returns whether the MX is the server.
    """
    scope = Scope("mx", domain.name, "MX")
    ours = {domain.mail_host, *domain.published.mx}
    foreign = sorted({r.content for r in existing if scope.covers(r) and r.content not in ours})
    if foreign:
        desired.notes.append(
            f"MX: {domain.name} receives its mail at {', '.join(foreign)}; the panel leaves "
            "that alone, and with it MTA-STS and TLS-RPT, which describe those hosts"
        )
        return False
    desired.add(scope, (domain.mail_host, MX_PRIORITY), ttl=ttl)
    return True


HostRecords = tuple[tuple[str, str, str], ...]  # (name, type, address)


def _host(
    desired: DesiredSet, domain: MailDomain, zone: str, existing: Sequence[Record], ttl: int
) -> HostRecords:
    """The mail host's A/AAAA, where the panel may publish them. Returns them."""
    if not _may_publish_host(desired, domain, zone, existing):
        return ()
    return _addresses(desired, "host", domain.mail_host, domain, ttl)


def _addresses(
    desired: DesiredSet, kind: str, name: str, domain: MailDomain, ttl: int
) -> HostRecords:
    desired.add(Scope(kind, name, "A"), *((a, None) for a in domain.ipv4), ttl=ttl)
    desired.add(Scope(kind, name, "AAAA"), *((a, None) for a in domain.ipv6), ttl=ttl)
    return tuple((name, "A", a) for a in domain.ipv4) + tuple(
        (name, "AAAA", a) for a in domain.ipv6
    )


def _policy_host(
    desired: DesiredSet, domain: MailDomain, existing: Sequence[Record], ttl: int
) -> HostRecords:
    """mta-sts.<domain> points at the server, which serves the MTA-STS policy there."""
    name = f"mta-sts.{domain.name}"
    if not domain.serves_policy:
        desired.notes.append(
            "MTA-STS: the policy is served only by a server with an ACME certificate (senders "
            "fetch it over trusted HTTPS), so no MTA-STS record is published until then; "
            "mail flows without it"
        )
        return ()
    if any(r.name == name and r.type == "CNAME" for r in existing):
        desired.notes.append(f"{name} is a CNAME: the MTA-STS policy is left to where it points")
        return ()
    if not domain.ipv4 and not domain.ipv6:
        return ()  # refused already, for the mail host
    return _addresses(desired, "mta-sts", name, domain, ttl)


def _former_hosts(
    desired: DesiredSet, domain: MailDomain, zone: str, existing: Sequence[Record]
) -> HostRecords:
    """Address records the panel published for names no longer wanted come down, unless a
    server of the owner still goes by that name. Returns those kept (still the panel's)."""
    kept: list[tuple[str, str, str]] = []
    for name, rtype, address in domain.published.hosts:
        wanted = any((s.name, s.type) == (name, rtype) for s in desired.scopes)
        if wanted or not in_zone(name, zone):
            continue
        if name in domain.hosts_in_use:
            kept.append((name, rtype, address))
            continue
        desired.scopes.append(Scope("host", name, rtype, values=(address,)))
        if any(r.name == name and r.type == rtype and r.content == address for r in existing):
            desired.notes.append(
                f"{name} {rtype} {address} comes down: the panel published it for a host "
                "this domain no longer uses"
            )
    return tuple(kept)


def _may_publish_host(
    desired: DesiredSet, domain: MailDomain, zone: str, existing: Sequence[Record]
) -> bool:
    host = domain.mail_host
    if not in_zone(host, zone):
        desired.notes.append(
            f"the mail host {host} is outside the zone {zone}: its address is "
            "published where that name lives"
        )
        return False
    if host == zone:
        desired.notes.append(f"the mail host is the zone apex {zone}: its A/AAAA are left to you")
        return False
    if any(r.name == host and r.type == "CNAME" for r in existing):
        desired.refusals.append(
            Refusal(
                f"{host} is a CNAME in the zone: the panel will not replace it with A/AAAA records;"
                " remove the CNAME or choose another mail hostname"
            )
        )
        return False
    if not domain.ipv4 and not domain.ipv6:
        desired.refusals.append(
            Refusal(
                f"the panel does not know {host}'s IP addresses yet: "
                "gather the server's facts first"
            )
        )
        return False
    return True


def _spf(
    desired: DesiredSet,
    domain: MailDomain,
    existing: Sequence[Record],
    ttl: int,
    spf: SpfMerge | None,
    lookups: LookupCount | None,
) -> tuple[str, ...]:
    """The merged SPF record, refused over 10 lookups. Returns the panel's terms in it."""
    merged = spf or spf_merge(domain, existing)
    desired.notes.extend(merged.notes)
    desired.add(Scope("spf", domain.name, "TXT", "v=spf1"), (merged.value, None), ttl=ttl)
    if lookups is None:
        return merged.ours
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
    return merged.ours


def spf_merge(domain: MailDomain, existing: Sequence[Record]) -> SpfMerge:
    return merge_spf(
        apex_spf(existing, domain.name), domain.ipv4, domain.ipv6, domain.published.spf
    )
