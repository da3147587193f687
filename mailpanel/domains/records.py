"""The DNS records a sending domain needs, shown to the owner (published by the DNS app).

The list comes from the DNS app's desired record set, so the page shows exactly what a
plan would publish in an empty zone (an existing SPF record is merged when planning).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailpanel.dns.desired import KIND_TITLES, build
from mailpanel.dns.inputs import mail_domain
from mailpanel.domains.models import SendingDomain


@dataclass(frozen=True)
class NeededRecord:
    type: str
    name: str
    value: str
    priority: int | None = None
    purpose: str = ""


def needed_records(domain: SendingDomain) -> list[NeededRecord]:
    link = getattr(domain, "dns_zone", None)
    zone = link.zone_name if link is not None else domain.name
    wanted = mail_domain(domain)
    desired = build(wanted, zone, existing=[], ttl=3600)
    records = [
        NeededRecord(
            w.record.type,
            w.record.name,
            w.record.content,
            w.record.priority,
            KIND_TITLES.get(w.kind, w.kind),
        )
        for w in desired.wanted
    ]
    if not any(w.kind == "host" for w in desired.wanted):
        # The mail host lives in another zone: its addresses are still needed, there.
        host = [("A", a) for a in wanted.ipv4] + [("AAAA", a) for a in wanted.ipv6]
        records[:0] = [
            NeededRecord(t, wanted.mail_host, a, purpose=KIND_TITLES["host"]) for t, a in host
        ]
    return records
