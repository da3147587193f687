"""DKIM key rotation as a staged job: publish, verify, switch the signer, retire the old key.

Each stage reads the state it needs from the database, so a rotation that stopped is picked
up where it was by starting it again: a key not yet switched to is reused, a published
record is not written twice (the publication plans against the live zone).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from mailpanel.dns import conf
from mailpanel.dns.conf import DEFAULT_TTL
from mailpanel.dns.jobs import run_publication
from mailpanel.dns.models import DnsPlan, DomainZone, PlanState
from mailpanel.dns.plan import to_json
from mailpanel.domains.dkim import generate_key_pair, new_selector
from mailpanel.domains.models import DkimKey, SendingDomain
from mailpanel.jobs.context import JobContext, JobFailed
from mailpanel.jobs.models import Job
from mailpanel.jobs.registry import job_kind
from mailpanel.servers.jobs import converge


def load(ctx: JobContext) -> tuple[SendingDomain, DomainZone]:
    domain = SendingDomain.objects.select_related("server").get(
        pk=str(ctx.params["domain_id"]), owner_id=ctx.job.owner_id
    )
    link = DomainZone.objects.select_related("account__credential").filter(domain=domain).first()
    if link is None:
        raise JobFailed("Link this domain to a zone first: rotation publishes the new key.")
    return domain, link


def pending_key(domain: SendingDomain) -> DkimKey:
    """The key being rotated in: an unfinished rotation's, or a new one."""
    active = domain.active_key
    pending = (
        DkimKey.objects.filter(domain=domain, active=False, retired_at__isnull=True)
        .filter(
            created_at__gt=active.created_at if active else timezone.now() - timedelta(days=3650)
        )
        .order_by("-created_at")
        .first()
    )
    if pending is not None:
        return pending
    private_pem, public_b64 = generate_key_pair()
    taken = set(DkimKey.objects.filter(domain=domain).values_list("selector", flat=True))
    key = DkimKey(
        owner=domain.owner,
        domain=domain,
        selector=new_selector(taken),
        public_key=public_b64,
        active=False,
    )
    key.seal({"private_key": private_pem})
    key.save()
    return key


def publish_dkim(ctx: JobContext, domain: SendingDomain, link: DomainZone, title: str) -> DnsPlan:
    """Apply the DKIM part of the record set, wait for it in DNS; the plan is kept as history."""
    last = DnsPlan.objects.filter(domain=domain, state=PlanState.APPLIED).first()
    row = DnsPlan.objects.create(
        owner=domain.owner,
        domain=domain,
        zone_name=link.zone_name,
        state=PlanState.APPLYING,
        apply_job=ctx.job,
        ttl=last.ttl if last else DEFAULT_TTL,  # the TTL the owner chose for these records
    )
    with ctx.step(title):
        done = run_publication(ctx, row, link, kinds=("dkim",))
        row.content = to_json(done.plan)
        if done.refused:
            row.state = PlanState.REFUSED
            row.save()
            raise JobFailed("Refused: " + "; ".join(r.reason for r in done.plan.refusals))
        row.result = [
            {
                "name": v.wanted.record.name,
                "type": "TXT",
                "kind": "dkim",
                "visible": v.visible,
                "value": v.wanted.record.content,
                "seen": list(v.seen),
            }
            for v in done.visibility
        ]
        row.state, row.applied_at = PlanState.APPLIED, timezone.now()
        row.save()
        missing = [v.wanted.record.name for v in done.visibility if not v.visible]
        if missing:
            raise JobFailed(
                f"Not visible in DNS in time: {', '.join(missing)}. Start the rotation again "
                "later: it resumes here."
            )
    return row


@job_kind("dns.dkim_rotate", "Rotate a DKIM key")
def rotate(ctx: JobContext) -> None:
    domain, link = load(ctx)
    old = domain.active_key
    new = pending_key(domain)
    ctx.log(
        f"New selector {new.selector} (the server signs with "
        f"{old.selector if old else 'no key'} until the switch)"
    )
    publish_dkim(ctx, domain, link, f"Publish and verify {new.record_name}")
    ctx.progress(40, "new key published")
    with ctx.step(f"Switch {domain.server.name} to sign with {new.selector}"):
        with transaction.atomic():
            DkimKey.objects.filter(domain=domain, active=True).update(active=False)
            DkimKey.objects.filter(pk=new.pk).update(active=True)
        converge(ctx)  # the same converge as the "server.converge" job
    ctx.progress(75, "server switched")
    retiring = [
        str(k)
        for k in DkimKey.objects.filter(
            domain=domain, active=False, retired_at__isnull=True
        ).values_list("pk", flat=True)
    ]
    wait = conf.dkim_rotation_wait()
    if not retiring:
        ctx.log("No old key to retire.")
    elif wait <= 0:
        retire_keys(ctx, domain, link, retiring)
    else:
        job = schedule_retirement(domain, retiring, wait)
        ctx.log(
            f"The old selector stays published for {wait / 3600:.1f} h, for messages still "
            f"on their way; job {job.pk} removes it then."
        )
    ctx.progress(100, f"signing with {new.selector}")


def schedule_retirement(domain: SendingDomain, key_ids: list[str], wait: float) -> Job:
    from mailpanel.jobs.tasks import run_job_task

    with transaction.atomic():
        job = Job.objects.create(
            owner=domain.owner,
            kind="dns.dkim_retire",
            target=domain.name,
            params={"domain_id": str(domain.pk), "key_ids": key_ids},
        )
        transaction.on_commit(lambda: run_job_task.schedule(args=(str(job.pk),), delay=wait))
    return job


def retire_keys(
    ctx: JobContext, domain: SendingDomain, link: DomainZone, key_ids: list[str]
) -> None:
    # Only keys still inactive: a key switched back to in the meantime stays published.
    DkimKey.objects.filter(domain=domain, pk__in=key_ids, active=False).update(
        retired_at=timezone.now()
    )
    publish_dkim(ctx, domain, link, "Remove the retired selector(s) from DNS")


@job_kind("dns.dkim_retire", "Remove a retired DKIM selector")
def retire(ctx: JobContext) -> None:
    domain, link = load(ctx)
    key_ids = [str(k) for k in ctx.params.get("key_ids", [])]  # type: ignore[attr-defined]
    retire_keys(ctx, domain, link, key_ids)
    ctx.progress(100, "old selector removed")
