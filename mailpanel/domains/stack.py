"""The mail stack a server should run, from the domains and users the panel knows.

Only domains whose owner proved control are in it: a server signs (and serves a policy, and
takes logins) for no domain its owner may not speak for.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dns.exception
from django.conf import settings
from django.utils import timezone

from mailpanel.dns.desired import mta_sts_policy
from mailpanel.dns.inputs import server_addresses
from mailpanel.domains.models import DkimKey, SendingDomain, SmtpUser
from mailpanel.jobs.context import JobContext
from mailpanel.servers.facts import sync_resolver
from mailpanel.servers.mailstack import Acme, MailStack, SigningDomain
from mailpanel.servers.models import Server
from mailpanel.servers.policysite import PolicySite
from mailpanel.vault.access import open_for_job


def build_mail_stack(server: Server, ctx: JobContext) -> MailStack:
    keys = DkimKey.objects.filter(
        domain__server=server, domain__verified_at__isnull=False, active=True
    ).select_related("domain")
    signing = tuple(
        SigningDomain(
            name=key.domain.name,
            selector=key.selector,
            private_key_pem=open_for_job(key, ctx)["private_key"],
        )
        for key in keys.order_by("domain__name", "selector")
    )
    logins = SmtpUser.objects.filter(domain__server=server, domain__verified_at__isnull=False)
    users = tuple(
        (user.address, user.password_hash)
        for user in logins.select_related("domain").order_by("domain__name", "local_part")
    )
    acme = acme_for(server)
    return MailStack(
        hostname=server.mail_hostname,
        domains=signing,
        users=users,
        acme=acme,
        policy_sites=policy_sites(server) if acme else (),
    )


def record_converged(server: Server, stack: MailStack, built_at: datetime) -> None:
    """After ``stack`` converged on ``server``: when that was, and each of its domains signed
    from now on. A domain added while the converge ran is not in the stack, so only domains
    older than the stack are marked."""
    now = timezone.now()
    Server.objects.filter(pk=server.pk).update(converged_at=now)
    SendingDomain.objects.filter(
        server=server,
        name__in=[d.name for d in stack.domains],
        created_at__lte=built_at,
        signing_since__isnull=True,
    ).update(signing_since=now)


def policy_sites(server: Server) -> tuple[PolicySite, ...]:
    """Each domain's MTA-STS policy, and whether its mta-sts name already points here."""
    v4, v6 = server_addresses(server.facts)
    here = {*v4, *v6, server.host}
    domains = SendingDomain.objects.filter(server=server, verified_at__isnull=False)
    domains = domains.order_by("name")
    return tuple(
        PolicySite(
            name,
            mta_sts_policy(server.mail_hostname, mode),
            points_at(f"mta-sts.{name}", here),
            ipv6=bool(v6),
        )
        for name, mode in domains.values_list("name", "mta_sts_mode")
    )


def points_at(name: str, addresses: set[str]) -> bool:
    """Whether the configured resolvers answer `name` with one of `addresses`."""
    res = sync_resolver()
    for rtype in ("A", "AAAA"):
        try:
            answer = res.resolve(name, rtype)
        except dns.exception.DNSException:
            continue
        if any(record.to_text() in addresses for record in answer):
            return True
    return False


def acme_for(server: Server) -> Acme | None:
    if not server.uses_acme:
        return None
    bundle = Path(settings.ACME_CA_BUNDLE).read_text() if settings.ACME_CA_BUNDLE else ""
    return Acme(directory=settings.ACME_DIRECTORY, ca_bundle=bundle)
