"""The DNS records a sending domain needs, shown to the owner (published by the DNS app)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailpanel.domains.models import SendingDomain


@dataclass(frozen=True)
class NeededRecord:
    type: str
    name: str
    value: str
    priority: int | None = None
    purpose: str = ""


def server_addresses(domain: SendingDomain) -> tuple[list[str], list[str]]:
    v4: list[str] = []
    v6: list[str] = []
    for raw in domain.server.facts.get("ips", []):
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            continue
        (v4 if address.version == 4 else v6).append(str(address))
    return v4, v6


def needed_records(domain: SendingDomain) -> list[NeededRecord]:
    server = domain.server
    v4, v6 = server_addresses(domain)
    records = [NeededRecord("A", server.mail_hostname, a, purpose="the mail host") for a in v4]
    records += [NeededRecord("AAAA", server.mail_hostname, a, purpose="the mail host") for a in v6]
    records.append(NeededRecord("MX", domain.name, server.mail_hostname, 10, "bounces and replies"))
    spf = " ".join(["v=spf1", *[f"ip4:{a}" for a in v4], *[f"ip6:{a}" for a in v6], "-all"])
    records.append(NeededRecord("TXT", domain.name, spf, purpose="SPF: who may send"))
    key = domain.active_key
    if key:
        records.append(NeededRecord("TXT", key.record_name, key.record_value, purpose="DKIM"))
    records.append(
        NeededRecord("TXT", f"_dmarc.{domain.name}", dmarc_value(domain), purpose="DMARC policy")
    )
    return records


def dmarc_value(domain: SendingDomain) -> str:
    value = f"v=DMARC1; p={domain.dmarc_policy}"
    if domain.dmarc_report_address:
        value += f"; rua=mailto:{domain.dmarc_report_address}"
    return value
