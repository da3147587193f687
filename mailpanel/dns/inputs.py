"""From the database to the plain data the record set is made from.

A domain whose owner has not proved control of it has no record set: the panel publishes
nothing for a domain its owner may not speak for.
"""

from __future__ import annotations

import ipaddress

from mailpanel.dns.desired import DkimPublication, MailDomain, Published
from mailpanel.dns.models import DomainZone
from mailpanel.domains.models import DkimKey, SendingDomain
from mailpanel.servers.models import Server


class DomainNotVerified(Exception):
    """The owner has not proved control of the domain; the message is for the owner."""

    def __init__(self, domain: SendingDomain) -> None:
        super().__init__(
            f"{domain.display_name} is not verified yet: prove you control it on its page "
            "(a TXT record, or the DNS account holding its zone) before the panel publishes "
            "records for it."
        )


def server_addresses(facts: dict[str, object]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The server's global addresses from its facts, IPv4 and IPv6, each once and sorted."""
    v4: set[str] = set()
    v6: set[str] = set()
    raw = facts.get("ips", [])
    for value in raw if isinstance(raw, list) else []:
        try:
            address = ipaddress.ip_address(str(value))
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local:
            continue
        (v4 if address.version == 4 else v6).add(address.compressed)
    return tuple(sorted(v4)), tuple(sorted(v6))


def mail_domain(domain: SendingDomain) -> MailDomain:
    """Keys not retired are published (the signing one and one being rotated in or out).
    DomainNotVerified when the owner has not proved control of the domain."""
    if domain.verified_at is None:
        raise DomainNotVerified(domain)
    v4, v6 = server_addresses(domain.server.facts)
    keys = list(DkimKey.objects.filter(domain=domain).order_by("created_at"))
    link = DomainZone.objects.filter(domain=domain).only("published").first()
    in_use = Server.objects.filter(owner_id=domain.owner_id).values_list("mail_hostname", flat=True)
    return MailDomain(
        name=domain.name,
        mail_host=domain.server.mail_hostname,
        ipv4=v4,
        ipv6=v6,
        dkim=tuple(DkimPublication(k.selector, k.record_value) for k in keys if not k.retired_at),
        dkim_removed=tuple(k.selector for k in keys if k.retired_at),
        dmarc_policy=domain.dmarc_policy,
        report_address=domain.dmarc_report_address,
        published=Published.from_json(link.published if link else None),
        hosts_in_use=tuple(sorted(set(in_use))),
        serves_policy=domain.server.uses_acme,
        mta_sts_mode=domain.mta_sts_mode,
    )
