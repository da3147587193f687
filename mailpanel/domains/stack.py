"""The mail stack a server should run, from the domains and users the panel knows."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from mailpanel.domains.models import DkimKey, SmtpUser
from mailpanel.jobs.context import JobContext
from mailpanel.servers.mailstack import Acme, MailStack, SigningDomain
from mailpanel.servers.models import Server
from mailpanel.vault.access import open_for_job


def build_mail_stack(server: Server, ctx: JobContext) -> MailStack:
    keys = DkimKey.objects.filter(domain__server=server, active=True).select_related("domain")
    signing = tuple(
        SigningDomain(
            name=key.domain.name,
            selector=key.selector,
            private_key_pem=open_for_job(key, ctx)["private_key"],
        )
        for key in keys.order_by("domain__name", "selector")
    )
    users = tuple(
        (user.address, user.password_hash)
        for user in SmtpUser.objects.filter(domain__server=server)
        .select_related("domain")
        .order_by("domain__name", "local_part")
    )
    return MailStack(
        hostname=server.mail_hostname, domains=signing, users=users, acme=acme_for(server)
    )


def acme_for(server: Server) -> Acme | None:
    if server.tls_mode != "acme":
        return None
    bundle = Path(settings.ACME_CA_BUNDLE).read_text() if settings.ACME_CA_BUNDLE else ""
    return Acme(directory=settings.ACME_DIRECTORY, ca_bundle=bundle)
