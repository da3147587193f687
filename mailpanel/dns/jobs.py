"""DNS job kinds: test an account, plan a domain's records, apply a reviewed plan.

Jobs run in worker threads and own the database; provider calls and DNS lookups run as
coroutines on the worker's loop (`run_on_ssh_loop`), and their log lines reach the job log
live through its event sink. Secrets leave the vault only through `open_for_job`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailpanel.dns import conf
from mailpanel.dns.desired import Published
from mailpanel.dns.engine import Lookups, Options, Publication, publish, verify
from mailpanel.dns.inputs import DomainNotVerified, mail_domain
from mailpanel.dns.models import DnsAccount, DnsPlan, DomainZone, PlanState
from mailpanel.dns.plan import Plan, from_json, to_json
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import ProviderError, Zone
from mailpanel.dns.verify import Visibility
from mailpanel.jobs.context import JobContext, JobFailed
from mailpanel.jobs.registry import job_kind
from mailpanel.servers.actions import start_converge
from mailpanel.servers.facts import resolver
from mailpanel.servers.sshloop import EventSink, run_on_ssh_loop
from mailpanel.vault.access import open_for_job

T = TypeVar("T")
Work = Callable[[DnsProvider, EventSink], Coroutine[Any, Any, T]]


def with_provider(ctx: JobContext, account: DnsAccount, work: Work[T]) -> T:
    """Run `work` with a provider for `account`; provider errors become job errors."""
    secret = open_for_job(account.credential, ctx)
    kind, url, retry = (
        account.provider,
        settings.DNS_API_URLS[account.provider],
        conf.retry_policy(),
    )

    async def main(sink: EventSink) -> T:
        async with make_provider(kind, secret, url, retry=retry) as provider:
            return await work(provider, sink)

    try:
        return run_on_ssh_loop(ctx, main)
    except ProviderError as exc:
        raise JobFailed(provider_failure(account, exc)) from exc


def provider_failure(account: DnsAccount, exc: ProviderError) -> str:
    """The provider's own words, then what to do."""
    title = account.get_provider_display()
    text = f"{title} said: {exc.provider_message}"
    return text + (f". What to do: {exc.hint}." if exc.hint else ".")


def lookups() -> Lookups:
    return Lookups(resolver(), conf.verify_timeout(), conf.verify_max_interval())


@job_kind("dns.account_test", "Test a DNS provider account")
def test_account(ctx: JobContext) -> None:
    account = DnsAccount.objects.select_related("credential").get(
        pk=str(ctx.params["account_id"]), owner_id=ctx.job.owner_id
    )

    async def work(provider: DnsProvider, sink: EventSink) -> list[Zone]:
        sink.log(f"Checking the credential with {provider.title}")
        await provider.verify()
        return await provider.list_zones()

    zones = with_provider(ctx, account, work)
    account.zones = [{"id": z.id, "name": z.name} for z in sorted(zones, key=lambda z: z.name)]
    account.verified_at = timezone.now()
    account.save(update_fields=["zones", "verified_at"])
    ctx.log(f"The account works: {len(zones)} zone(s).")
    for zone in account.zones[:200]:
        ctx.log(f"  {zone['name']}")
    ctx.progress(100, f"{len(zones)} zone(s)")


def load_plan(ctx: JobContext) -> tuple[DnsPlan, DomainZone]:
    row = DnsPlan.objects.select_related("domain__server").get(
        pk=str(ctx.params["plan_id"]), owner_id=ctx.job.owner_id
    )
    link = (
        DomainZone.objects.select_related("account__credential")
        .filter(domain=row.domain, owner_id=ctx.job.owner_id)
        .first()
    )
    if link is None:
        fail(row, "Link this domain to a zone of a DNS account first.")
    if row.domain.verified_at is None:
        fail(row, str(DomainNotVerified(row.domain)))
    return row, link


def fail(row: DnsPlan, message: str) -> NoReturn:
    DnsPlan.objects.filter(pk=row.pk).update(state=PlanState.FAILED)
    raise JobFailed(message)


def run_publication(ctx: JobContext, row: DnsPlan, link: DomainZone, **options: Any) -> Publication:
    try:
        domain = mail_domain(row.domain)
    except DomainNotVerified as exc:
        fail(row, str(exc))
    zone = Zone(link.zone_id, link.zone_name)
    found = lookups()

    async def work(provider: DnsProvider, sink: EventSink) -> Publication:
        sink.log(f"Reading the zone {zone.name} at {provider.title}")
        return await publish(
            provider,
            zone,
            domain,
            ttl=row.ttl,
            log=sink.log,
            lookups=found,
            options=Options(forced=row.forced, **options),
        )

    try:
        return with_provider(ctx, link.account, work)
    except JobFailed:
        DnsPlan.objects.filter(pk=row.pk).update(state=PlanState.FAILED)
        raise


@job_kind("dns.plan", "Plan DNS records")
def plan_records(ctx: JobContext) -> None:
    row, link = load_plan(ctx)
    done = run_publication(ctx, row, link, apply=False)
    fill(row, done.plan)
    row.save(update_fields=["content", "state"])
    counts = done.plan.counts
    ctx.progress(
        100, f"{counts['create']} create, {counts['update']} update, {counts['delete']} delete"
    )


def fill(row: DnsPlan, plan: Plan) -> None:
    row.content = to_json(plan)
    row.state = PlanState.REFUSED if plan.blocked else PlanState.PLANNED


@job_kind("dns.apply", "Apply DNS records")
def apply_records(ctx: JobContext) -> None:
    row, link = load_plan(ctx)
    if link.zone_name != row.zone_name:
        fail(row, f"This plan is for {row.zone_name}; the domain is now in {link.zone_name}.")
    reviewed = from_json(row.content)
    # Before any write: an apply that stops halfway must not leave terms the panel wrote
    # looking like the owner's (those it could never take back). Nothing written: put back.
    before = link.published
    widened = Published.from_json(before).union(reviewed.ours)
    DomainZone.objects.filter(pk=link.pk).update(published=widened.to_json())
    done = run_publication(ctx, row, link, reviewed=reviewed)
    if (done.refused or done.superseded) and not done.writes:
        DomainZone.objects.filter(pk=link.pk).update(published=before)
    if done.refused:
        fill(row, done.plan)
        row.save(update_fields=["content", "state"])
        raise JobFailed("Refused: " + "; ".join(r.reason for r in done.plan.refusals))
    if done.superseded:
        fresh = supersede(row, done.plan)
        raise JobFailed(
            "The zone changed since you reviewed this plan, so nothing was written. "
            f"Review the new plan (plan {fresh.pk}) and apply that one."
        )
    row.result = visibility_json(done.visibility)
    row.state, row.applied_at = PlanState.APPLIED, timezone.now()
    with transaction.atomic():
        row.save(update_fields=["result", "state", "applied_at"])
        DomainZone.objects.filter(pk=link.pk).update(published=done.plan.ours.to_json())
    answered = report_visibility(ctx, row.result)
    status = f"{done.writes} write call(s); {answered}"
    ctx.log(f"Applied: {status}.")
    serve_policy_when_it_points_here(ctx, row, done.plan)
    ctx.progress(100, status)


@job_kind("dns.verify", "Check DNS records")
def verify_records(ctx: JobContext) -> None:
    """Ask the resolvers again for an applied plan's records; writes nothing at the provider."""
    row = DnsPlan.objects.select_related("domain__server").get(
        pk=str(ctx.params["plan_id"]), owner_id=ctx.job.owner_id
    )
    plan = from_json(row.content)
    found = lookups()

    async def main(sink: EventSink) -> list[Visibility]:
        return await verify(plan.wanted, found, sink.log)

    waited = not policy_host_visible(row.result)  # the apply left the policy's server alone
    row.result = visibility_json(run_on_ssh_loop(ctx, main))
    row.save(update_fields=["result"])
    answered = report_visibility(ctx, row.result)
    if waited:
        serve_policy_when_it_points_here(ctx, row, plan)
    ctx.progress(100, answered)


def visibility_json(found: list[Visibility]) -> list[dict[str, Any]]:
    return [
        {
            "name": v.wanted.record.name,
            "type": v.wanted.record.type,
            "kind": v.wanted.kind,
            "value": v.wanted.record.content,
            "visible": v.visible,
            "seen": list(v.seen),
        }
        for v in found
    ]


def report_visibility(ctx: JobContext, result: list[dict[str, Any]]) -> str:
    """Log each record not answered yet; returns "n/m visible"."""
    missing = [r for r in result if not r["visible"]]
    for item in missing:
        ctx.log(
            f"Not visible yet: {item['name']} {item['type']} (seen: {item['seen'] or 'nothing'})",
            "warning",
        )
    return f"{len(result) - len(missing)}/{len(result)} visible"


def policy_host_visible(result: list[dict[str, Any]]) -> bool:
    """Whether the resolvers answer every mta-sts.<domain> address (what the CA will ask)."""
    rows = [r for r in result if r["kind"] == "mta-sts" and r["type"] in ("A", "AAAA")]
    return bool(rows) and all(r["visible"] for r in rows)


def serve_policy_when_it_points_here(ctx: JobContext, row: DnsPlan, plan: Plan) -> None:
    """mta-sts.<domain> now points at the server: provision it, so it gets the name's
    certificate and serves the policy (senders fetch it only over trusted HTTPS)."""
    server = row.domain.server
    pointed = [
        c.record.name
        for c in plan.changes
        if c.kind == "mta-sts" and c.record.type in ("A", "AAAA") and c.change.after is not None
    ]
    if not pointed or not server.uses_acme:
        return
    if not policy_host_visible(row.result):
        ctx.log(
            f"{pointed[0]} is not answered everywhere yet: provision the server once it is, "
            "to serve the MTA-STS policy",
            "warning",
        )
        return
    job = start_converge(server, "policy_site", domain=row.domain.name)
    ctx.log(f"{pointed[0]} points at {server.name} now: provisioning it (job {job.pk}).")


def supersede(row: DnsPlan, plan: Plan) -> DnsPlan:
    with transaction.atomic():
        DnsPlan.objects.filter(pk=row.pk).update(state=PlanState.SUPERSEDED)
        fresh = DnsPlan(
            owner_id=row.owner_id,
            domain_id=row.domain_id,
            zone_name=row.zone_name,
            ttl=row.ttl,
            forced=row.forced,
        )
        fill(fresh, plan)
        fresh.save()
    return fresh
