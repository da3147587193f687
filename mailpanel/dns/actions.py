"""What the DNS pages do: each action owns its transaction and starts jobs after commit."""

from __future__ import annotations

from django.db import transaction

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.dns.inputs import DomainNotVerified
from mailpanel.dns.models import DnsAccount, DnsPlan, DomainZone, PlanState
from mailpanel.dns.providers.base import in_zone
from mailpanel.dns.providers.registry import PROVIDERS
from mailpanel.dns.zones import zone_containing
from mailpanel.domains import actions as domain_actions
from mailpanel.domains.models import SendingDomain, VerifiedBy
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.models import Job, JobState
from mailpanel.names import domain_to_unicode
from mailpanel.vault.models import Credential

APPLICABLE = frozenset({PlanState.PLANNED, PlanState.FAILED, PlanState.REFUSED})


class DnsActionRefused(Exception):
    """A request the panel will not carry out; the message is for the owner."""


def connect_account(owner: User, credential: Credential, label: str) -> tuple[DnsAccount, Job]:
    if credential.owner_id != owner.pk or credential.kind not in PROVIDERS:
        raise DnsActionRefused(
            "Choose one of your Cloudflare, Name.com or OpenProvider credentials."
        )
    with transaction.atomic():
        account = DnsAccount.objects.create(
            owner=owner, credential=credential, label=label, provider=credential.kind
        )
        record_event(owner, "dns.account_connected", account, actor=owner)
        job = test_account(account)
    return account, job


def test_account(account: DnsAccount) -> Job:
    return start_job(
        account.owner,
        "dns.account_test",
        target=account.label,
        params={"account_id": str(account.pk)},
    )


def delete_account(account: DnsAccount) -> None:
    linked = [domain_to_unicode(n) for n in account.links.values_list("domain__name", flat=True)]
    if linked:
        raise DnsActionRefused("Still used by " + ", ".join(linked) + ": unlink them first.")
    with transaction.atomic():
        record_event(account.owner, "dns.account_removed", account, actor=account.owner)
        account.delete()


def link_zone(domain: SendingDomain, account: DnsAccount, zone_name: str) -> DomainZone:
    """Publish `domain`'s records in `zone_name`, which must be a zone the account listed."""
    if account.owner_id != domain.owner_id:
        raise DnsActionRefused("Choose one of your DNS accounts.")
    zone = account.zone_named(zone_name)
    if zone is None:
        raise DnsActionRefused(
            f"{domain_to_unicode(zone_name)} is not a zone of {account.label} (as last listed):"
            " test the account again if you just added it there."
        )
    if not in_zone(domain.name, zone["name"]):
        raise DnsActionRefused(
            f"{domain.display_name} is not inside the zone {domain_to_unicode(zone['name'])}."
        )
    with transaction.atomic():
        # A zone of the owner's own account holding the domain is the proof of control.
        prove_control(domain)
        before = DomainZone.objects.select_for_update().filter(domain=domain).first()
        same = before is not None and (before.account_id, before.zone_id) == (
            account.pk,
            zone["id"],
        )
        link, _ = DomainZone.objects.update_or_create(
            domain=domain,
            defaults={
                "owner": domain.owner,
                "account": account,
                "zone_id": zone["id"],
                "zone_name": zone["name"],
                # What the panel wrote in another zone is not its to take back in this one.
                "published": before.published if same and before else {},
            },
        )
        record_event(
            domain.owner,
            "dns.zone_linked",
            domain,
            actor=domain.owner,
            message=f"{zone['name']} at {account.label}",
        )
    return link


def prove_control(domain: SendingDomain) -> None:
    try:
        domain_actions.mark_verified(domain, VerifiedBy.DNS_ACCOUNT)
    except domain_actions.DomainRefused as exc:
        raise DnsActionRefused(str(exc)) from exc


def find_zone(domain: SendingDomain) -> tuple[DnsAccount, str] | None:
    """The longest zone containing the domain among the owner's accounts (as last listed)."""
    return zone_containing(domain.owner_id, domain.name)


def refuse_unverified(domain: SendingDomain) -> None:
    if domain.verified_at is None:
        raise DnsActionRefused(str(DomainNotVerified(domain)))


def link_automatically(domain: SendingDomain) -> DomainZone:
    found = find_zone(domain)
    if found is None:
        raise DnsActionRefused(
            f"None of your DNS accounts lists a zone for {domain.display_name}: connect the "
            "account that holds it, or test your accounts again."
        )
    return link_zone(domain, *found)


def start_plan(domain: SendingDomain, ttl: int = 3600, forced: bool = False) -> DnsPlan:
    refuse_unverified(domain)
    link = DomainZone.objects.filter(domain=domain).first()
    if link is None:
        raise DnsActionRefused("Link this domain to a zone of one of your DNS accounts first.")
    with transaction.atomic():
        plan = DnsPlan.objects.create(
            owner=domain.owner, domain=domain, zone_name=link.zone_name, ttl=ttl, forced=forced
        )
        plan.plan_job = start_job(
            domain.owner, "dns.plan", target=domain.name, params={"plan_id": str(plan.pk)}
        )
        plan.save(update_fields=["plan_job"])
    return plan


def start_apply(plan: DnsPlan, force: bool = False) -> Job:
    """Apply a reviewed plan (again, after a failure: the job plans afresh first)."""
    refuse_unverified(plan.domain)
    if plan.state not in APPLICABLE:
        raise DnsActionRefused(f"This plan is {plan.get_state_display().lower()}: plan again.")
    link = DomainZone.objects.filter(domain_id=plan.domain_id).first()
    if link is None or link.zone_name != plan.zone_name:
        raise DnsActionRefused(
            f"This plan is for {plan.zone_name}, and the domain is no longer published there:"
            " plan again."
        )
    refusals = plan.content.get("refusals", [])
    if any(not r["forceable"] for r in refusals):
        raise DnsActionRefused("This plan cannot be applied: " + refusals[0]["reason"])
    if refusals and not (force or plan.forced):
        raise DnsActionRefused("This plan was refused: " + refusals[0]["reason"])
    with transaction.atomic():
        plan.state, plan.forced = PlanState.APPLYING, plan.forced or force
        plan.apply_job = start_job(
            plan.owner, "dns.apply", target=plan.domain.name, params={"plan_id": str(plan.pk)}
        )
        plan.save(update_fields=["state", "forced", "apply_job"])
        record_event(
            plan.owner,
            "dns.plan_applied",
            plan.domain,
            actor=plan.owner,
            message=f"{plan.zone_name}{' (forced)' if plan.forced else ''}",
        )
    return plan.apply_job


def start_verify(plan: DnsPlan) -> Job:
    """Ask the resolvers again for an applied plan's records (DNS takes its time)."""
    if plan.state != PlanState.APPLIED:
        raise DnsActionRefused("Only an applied plan's records can be checked: apply it first.")
    current = latest_verify(plan)
    if current is not None and current.state in (JobState.QUEUED, JobState.RUNNING):
        return current  # one check at a time: a second click follows the first
    return start_job(
        plan.owner, "dns.verify", target=plan.domain.name, params={"plan_id": str(plan.pk)}
    )


def latest_verify(plan: DnsPlan) -> Job | None:
    return Job.objects.filter(
        owner_id=plan.owner_id, kind="dns.verify", params__plan_id=str(plan.pk)
    ).first()


def start_rotation(domain: SendingDomain) -> Job:
    refuse_unverified(domain)
    if not DomainZone.objects.filter(domain=domain).exists():
        raise DnsActionRefused("Link this domain to a zone first: rotation publishes the new key.")
    return start_job(
        domain.owner,
        "dns.dkim_rotate",
        target=domain.name,
        params={"domain_id": str(domain.pk), "server_id": str(domain.server_id)},
    )
