"""SPF, DKIM and DMARC verdicts for a received message, using only the lab DNS server.

pyspf and dkimpy do the checking; we only give them a resolver pointed at the lab:
dkimpy takes a `dnsfunc`, pyspf looks up through its module-level `spf.DNSLookup`,
which we replace once with a router that uses the lab resolver of the calling thread
(and falls back to pyspf's own lookup for threads that set none).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Any

import dkim
import dns.exception
import dns.resolver
import spf


class LabDns:
    """A resolver that asks the lab DNS server and nothing else (no system resolvers)."""

    def __init__(self, address: str, port: int = 53, timeout: float = 3.0) -> None:
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [address]
        self.resolver.port = port
        self.resolver.lifetime = timeout

    def answer(self, name: str, rdtype: str) -> list[Any]:
        """The rdatas of `name`/`rdtype`; [] for NXDOMAIN or no data."""
        try:
            return list(self.resolver.resolve(name, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record at `name` with its strings joined, as SPF/DKIM/DMARC read them."""
        return [b"".join(rd.strings) for rd in self.answer(name, "TXT")]

    def dkim_txt(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        """dkimpy's `dnsfunc`: the first TXT record of the key name, or None."""
        text = name.decode() if isinstance(name, bytes) else name
        try:
            records = self.txt(text.rstrip("."))
        except dns.exception.Timeout as exc:
            raise dkim.DnsTimeoutError(str(exc)) from exc
        except dns.resolver.NoNameservers:
            return None
        return records[0] if records else None

    def spf_lookup(self, name: str, qtype: str) -> list[tuple[tuple[str, str], Any]]:
        """pyspf's DNSLookup result shape: [((name, qtype), value), ...]."""
        try:
            rdatas = self.answer(name, qtype)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise spf.TempError(f"DNS {exc}") from exc
        return [((name, qtype), _spf_value(qtype, rd)) for rd in rdatas]


def _spf_value(qtype: str, rd: Any) -> Any:
    # The same values pyspf's own dnspython driver returns.
    if qtype in ("A", "AAAA"):
        return rd.address
    if qtype == "MX":
        return (rd.preference, rd.exchange)
    if qtype == "PTR":
        return rd.target.to_text(True)
    return rd.strings  # TXT / SPF


_thread_dns = threading.local()
_pyspf_lookup = spf.DNSLookup


def _routed_lookup(
    name: str, qtype: str, strict: Any = True, timeout: float = 20
) -> list[tuple[tuple[str, str], Any]]:
    lab: LabDns | None = getattr(_thread_dns, "lab", None)
    if lab is None:
        result: list[tuple[tuple[str, str], Any]] = _pyspf_lookup(name, qtype, strict, timeout)
        return result
    return lab.spf_lookup(name, qtype)


spf.DNSLookup = _routed_lookup


def check_spf(lab: LabDns, ip: str, mail_from: str, helo: str) -> tuple[str, str]:
    """(result, explanation) of pyspf's check2, with DNS answered by the lab."""
    _thread_dns.lab = lab
    try:
        result, explanation = spf.check2(i=ip, s=mail_from, h=helo, querytime=10)
    finally:
        _thread_dns.lab = None
    return str(result), str(explanation)


@dataclass(frozen=True)
class DkimVerdict:
    result: str  # pass, fail, none, permerror, temperror
    domain: str | None = None
    selector: str | None = None


def check_dkim(lab: LabDns, raw: bytes) -> DkimVerdict:
    """Pass if any signature verifies; otherwise the verdict of the first one."""
    try:
        checker = dkim.DKIM(raw, minkey=1024)
    except dkim.DKIMException:
        return DkimVerdict("permerror")  # headers too broken to parse
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    verdicts = [_verify_one(checker, index, lab) for index in range(count)]
    passed = [v for v in verdicts if v.result == "pass"]
    return (passed or verdicts or [DkimVerdict("none")])[0]


class _KeyLookup:
    """dkimpy's dnsfunc, remembering what the lookup found: dkimpy turns a missing key and
    a DNS timeout into a plain False, which would read as a bad signature."""

    def __init__(self, lab: LabDns) -> None:
        self.lab = lab
        self.outcome = "not asked"

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        try:
            value = self.lab.dkim_txt(name, timeout)
        except dkim.DnsTimeoutError:
            self.outcome = "temperror"
            raise
        self.outcome = "found" if value else "permerror"
        return value


def _verify_one(checker: dkim.DKIM, index: int, lab: LabDns) -> DkimVerdict:
    lookup = _KeyLookup(lab)
    try:
        result = "pass" if checker.verify(idx=index, dnsfunc=lookup) else "fail"
    except dkim.ValidationError:
        result = "fail"  # body hash mismatch, expired signature
    except dkim.DKIMException:
        result = "permerror"  # malformed signature or key
    if result == "fail" and lookup.outcome in ("temperror", "permerror"):
        result = lookup.outcome  # no key published (RFC 6376 "no key for signature")
    return DkimVerdict(result, _text(checker.domain), _text(checker.selector))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return (value.decode() if isinstance(value, bytes) else str(value)).lower()


def organizational_domain(domain: str) -> str:
    """The last two labels: enough for the lab (no public suffix list)."""
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def dmarc_record(lab: LabDns, from_domain: str) -> tuple[dict[str, str], bool] | None:
    """The DMARC tags for `from_domain` and whether they came from the organisational domain."""
    org = organizational_domain(from_domain)
    for name, inherited in ((from_domain, False), (org, True)):
        for txt in lab.txt(f"_dmarc.{name}"):
            text = txt.decode("utf-8", "replace")
            if text.strip().lower().startswith("v=dmarc1"):
                return _tags(text), inherited and org != from_domain
    return None


def _tags(text: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def aligned(domain: str | None, from_domain: str, mode: str) -> bool:
    if not domain:
        return False
    if mode.lower() == "s":
        return domain.lower() == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


@dataclass(frozen=True)
class DmarcVerdict:
    result: str  # pass, fail, none, temperror
    policy: str | None = None


def check_dmarc(
    lab: LabDns, from_domain: str | None, spf_result: str, spf_domain: str, dkim_v: DkimVerdict
) -> DmarcVerdict:
    if not from_domain:
        return DmarcVerdict("none")
    try:
        found = dmarc_record(lab, from_domain)
    except (dns.exception.Timeout, dns.resolver.NoNameservers):
        # RFC 7489 6.6.3: a DNS error while looking up the policy is a temporary error.
        return DmarcVerdict("temperror")
    if found is None:
        return DmarcVerdict("none")
    tags, inherited = found
    # A subdomain without its own record follows the organisational sp= if there is one.
    policy = tags.get("sp", tags.get("p")) if inherited else tags.get("p")
    spf_ok = spf_result == "pass" and aligned(spf_domain, from_domain, tags.get("aspf", "r"))
    dkim_ok = dkim_v.result == "pass" and aligned(
        dkim_v.domain, from_domain, tags.get("adkim", "r")
    )
    return DmarcVerdict("pass" if spf_ok or dkim_ok else "fail", policy)


def header_from_domain(raw: bytes) -> str | None:
    headers = BytesHeaderParser().parsebytes(raw)
    addresses = getaddresses([str(v) for v in headers.get_all("From", [])])
    domains = [addr.rpartition("@")[2].lower() for _, addr in addresses if "@" in addr]
    return domains[0] if domains else None


@dataclass(frozen=True)
class Verdicts:
    spf: str
    spf_detail: str
    spf_domain: str
    dkim: DkimVerdict
    dmarc: DmarcVerdict
    from_domain: str | None

    def authentication_results(self, authserv_id: str) -> str:
        """An Authentication-Results header value (RFC 8601) summing up the verdicts."""
        parts = [authserv_id, f"spf={self.spf} smtp.mailfrom={self.spf_domain}"]
        dkim_part = f"dkim={self.dkim.result}"
        if self.dkim.domain:
            dkim_part += f" header.d={self.dkim.domain} header.s={self.dkim.selector}"
        parts.append(dkim_part)
        dmarc_part = f"dmarc={self.dmarc.result}"
        if self.dmarc.policy:
            dmarc_part += f" (p={self.dmarc.policy})"
        parts.append(dmarc_part + f" header.from={self.from_domain or ''}")
        return "; ".join(parts)


def verdicts(lab: LabDns, raw: bytes, ip: str, mail_from: str, helo: str) -> Verdicts:
    """All three verdicts at receive time. Blocking (DNS); run it in a worker thread."""
    spf_result, spf_detail = check_spf(lab, ip, mail_from, helo)
    # With a null MAIL FROM, SPF and DMARC use the HELO name as the envelope domain.
    spf_domain = (mail_from.rpartition("@")[2] if "@" in mail_from else helo).lower()
    dkim_v = check_dkim(lab, raw)
    from_domain = header_from_domain(raw)
    dmarc_v = check_dmarc(lab, from_domain, spf_result, spf_domain, dkim_v)
    return Verdicts(spf_result, spf_detail, spf_domain, dkim_v, dmarc_v, from_domain)
