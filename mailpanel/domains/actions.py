from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from django.db import transaction

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.domains.dkim import generate_key_pair, new_selector
from mailpanel.domains.models import DkimKey, SendingDomain, SmtpUser
from mailpanel.jobs.models import Job
from mailpanel.servers.actions import start_server_job
from mailpanel.servers.models import Server

# Dovecot verifies ARGON2ID through libsodium, which only knows parallelism 1.
DOVECOT_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)


def add_domain(
    owner: User, server: Server, name: str, dmarc_policy: str = "none", report_address: str = ""
) -> tuple[SendingDomain, Job]:
    """Create the domain with a fresh DKIM key, then converge the server to sign for it."""
    private_pem, public_b64 = generate_key_pair()
    with transaction.atomic():
        domain = SendingDomain.objects.create(
            owner=owner,
            server=server,
            name=name,
            dmarc_policy=dmarc_policy,
            dmarc_report_address=report_address,
        )
        key = DkimKey(
            owner=owner, domain=domain, selector=new_selector(set()), public_key=public_b64
        )
        key.seal({"private_key": private_pem})
        key.save()
        record_event(owner, "domain.added", domain, actor=owner, message=f"on {server.name}")
        job = start_server_job(server, "server.converge")
    return domain, job


def change_policy(
    domain: SendingDomain, dmarc_policy: str, report_address: str, mta_sts_mode: str
) -> Job | None:
    """Store what the owner chose; the server gets a changed MTA-STS policy file first (a
    sender that sees the record's new id fetches the policy at once), DNS by the next plan."""
    before = (domain.dmarc_policy, domain.dmarc_report_address, domain.mta_sts_mode)
    after = (dmarc_policy, report_address, mta_sts_mode)
    if before == after:
        return None
    with transaction.atomic():
        domain.dmarc_policy, domain.dmarc_report_address, domain.mta_sts_mode = after
        domain.save(update_fields=["dmarc_policy", "dmarc_report_address", "mta_sts_mode"])
        changed = ", ".join(
            f"{name} {old or '-'} → {new or '-'}"
            for name, old, new in zip(("DMARC", "reports", "MTA-STS"), before, after, strict=True)
            if old != new
        )
        record_event(domain.owner, "domain.policy_changed", domain, actor=domain.owner,
                     message=changed)  # fmt: skip
        if before[2] != mta_sts_mode and domain.server.uses_acme:
            return start_server_job(domain.server, "server.converge")
    return None


def hash_for_dovecot(password: str) -> str:
    return "{ARGON2ID}" + DOVECOT_HASHER.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def add_smtp_user(domain: SendingDomain, local_part: str, password: str) -> tuple[SmtpUser, Job]:
    with transaction.atomic():
        user = SmtpUser.objects.create(
            owner=domain.owner,
            domain=domain,
            local_part=local_part,
            password_hash=hash_for_dovecot(password),
        )
        record_event(domain.owner, "smtp_user.added", user, actor=domain.owner)
        job = start_server_job(domain.server, "server.converge")
    return user, job


def delete_smtp_user(user: SmtpUser) -> Job:
    with transaction.atomic():
        record_event(user.owner, "smtp_user.deleted", user, actor=user.owner)
        server = user.domain.server
        user.delete()
        return start_server_job(server, "server.converge")


def delete_domain(domain: SendingDomain) -> Job:
    with transaction.atomic():
        record_event(domain.owner, "domain.deleted", domain, actor=domain.owner)
        server = domain.server
        domain.delete()
        return start_server_job(server, "server.converge")
