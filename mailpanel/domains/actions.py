"""What the domain pages do: each action owns its transaction and starts jobs after commit."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from django.db import IntegrityError, transaction
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.billing.plans import DOMAINS, refuse_beyond_plan
from mailpanel.domains import claims
from mailpanel.domains.dkim import generate_key_pair, new_selector
from mailpanel.domains.models import DkimKey, SendingDomain, SmtpUser
from mailpanel.jobs.models import Job
from mailpanel.servers.actions import start_converge
from mailpanel.servers.models import Server

# Dovecot verifies ARGON2ID through libsodium, which only knows parallelism 1.
DOVECOT_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)


class DomainRefused(Exception):
    """A request the panel will not carry out; the message is for the owner."""


def add_domain(
    owner: User, server: Server, name: str, dmarc_policy: str = "none", report_address: str = ""
) -> tuple[SendingDomain, Job | None]:
    """Create the domain with a fresh DKIM key. When its zone is in one of the owner's DNS
    accounts that proves control at once, and the server converges to sign for it;
    otherwise nothing signs or publishes it until `verify_domain` finds the proof."""
    private_pem, public_b64 = generate_key_pair()
    with transaction.atomic():
        refuse_beyond_plan(owner, DOMAINS, SendingDomain.objects.filter(owner=owner).count)
        refuse_if_claimed(owner.pk, name)
        domain = create_domain(owner, server, name, dmarc_policy, report_address)
        key = DkimKey(
            owner=owner, domain=domain, selector=new_selector(set()), public_key=public_b64
        )
        key.seal({"private_key": private_pem})
        key.save()
        record_event(owner, "domain.added", domain, actor=owner, message=f"on {server.name}")
        proof = claims.account_proof(domain)
        job = mark_verified(domain, proof.method) if proof else None
    return domain, job


def create_domain(
    owner: User, server: Server, name: str, dmarc_policy: str, report_address: str
) -> SendingDomain:
    try:
        with transaction.atomic():  # a savepoint: the double submit the form check missed
            return SendingDomain.objects.create(
                owner=owner,
                server=server,
                name=name,
                dmarc_policy=dmarc_policy,
                dmarc_report_address=report_address,
            )
    except IntegrityError as exc:
        raise DomainRefused("This domain is already set up in your panel.") from exc


def refuse_if_claimed(owner_id: int, name: str) -> None:
    """Inside the caller's transaction: lock the rows of `name` (a verification of it by
    another tenant waits for this one, or this one for it), then refuse if another holds it."""
    rows = SendingDomain.objects.select_for_update().filter(name=name)
    if any(o != owner_id and v is not None for o, v in rows.values_list("owner_id", "verified_at")):
        raise DomainRefused(claims.claimed_message(name))


def mark_verified(domain: SendingDomain, method: str) -> Job | None:
    """Record that the owner proved control, then converge the server to sign for it.
    Refused when another tenant holds the name; nothing to do when already verified."""
    if domain.verified_at is not None:
        return None
    with transaction.atomic():
        refuse_if_claimed(domain.owner_id, domain.name)
        now = timezone.now()
        try:
            with transaction.atomic():  # the constraint catches a race the lock did not
                SendingDomain.objects.filter(pk=domain.pk).update(
                    verified_at=now, verified_by=method
                )
        except IntegrityError as exc:
            raise DomainRefused(claims.claimed_message(domain.name)) from exc
        domain.verified_at, domain.verified_by = now, method
        record_event(domain.owner, "domain.verified", domain, actor=domain.owner,
                     message=domain.get_verified_by_display())  # fmt: skip
        return start_converge(domain.server, "domain", domain=domain.name)


def verify_domain(domain: SendingDomain) -> claims.Proof:
    """Look for the proof of control (no transaction open while the resolvers answer) and
    record it when found; the proof says what was found either way."""
    if domain.verified_at is not None:
        return claims.Proof(domain.verified_by, "it was verified already")
    if claims.claimed_elsewhere(domain.owner_id, domain.name):
        raise DomainRefused(claims.claimed_message(domain.name))
    proof = claims.check(domain)
    if proof.proven:
        mark_verified(domain, proof.method)
    return proof


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
            return start_converge(domain.server, "policy", domain=domain.name)
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
        job = start_converge(domain.server, "login_added", login=user.address)
    return user, job


def delete_smtp_user(user: SmtpUser) -> Job:
    with transaction.atomic():
        record_event(user.owner, "smtp_user.deleted", user, actor=user.owner)
        server, login = user.domain.server, user.address
        user.delete()
        return start_converge(server, "login_removed", login=login)


def delete_domain(domain: SendingDomain) -> Job:
    with transaction.atomic():
        record_event(domain.owner, "domain.deleted", domain, actor=domain.owner)
        server, name = domain.server, domain.name
        domain.delete()
        return start_converge(server, "domain_removed", domain=name)
