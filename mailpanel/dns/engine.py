"""One publication as coroutines: read the zone, plan, apply, then wait until DNS answers.

No database here: the job thread hands in plain data and writes down what comes back, so the
same code runs inside a job (on the worker's loop) and in the benchmark.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.asyncresolver

from mailpanel.dns.desired import MailDomain, Wanted, build, spf_merge
from mailpanel.dns.plan import Plan, make_plan, within
from mailpanel.dns.policyfetch import PolicyUnavailable, fetch_policy
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.spf import count_lookups
from mailpanel.dns.types import ErrorKind, ProviderError, Zone
from mailpanel.dns.verify import Visibility, txt_resolver, wait_visible

Log = Callable[[str], None]
ROUNDS = 3  # plans (and applies) of one publication at most, after transient failures
TRANSIENT = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED})


async def live_plan(
    provider: DnsProvider,
    zone: Zone,
    domain: MailDomain,
    *,
    ttl: int,
    forced: bool = False,
    resolver: dns.asyncresolver.Resolver,
) -> Plan:
    """The plan against what the zone holds right now (every page of it)."""
    existing = await provider.list_records(zone)
    if domain.serves_policy and domain.mta_sts_mode == "enforce":
        domain = await with_served_policy(domain, resolver)
    merged = spf_merge(domain, existing)
    lookups = await count_lookups(merged.value, txt_resolver(resolver))
    desired = build(domain, zone.name, existing, ttl, merged, lookups)
    return make_plan(desired, existing, provider.normalize_ttl, zone=zone.name, forced=forced)


async def with_served_policy(
    domain: MailDomain, resolver: dns.asyncresolver.Resolver
) -> MailDomain:
    try:
        served = await fetch_policy(domain.name, resolver)
    except PolicyUnavailable as exc:
        return dataclasses.replace(domain, served_policy=None, policy_problem=str(exc))
    return dataclasses.replace(domain, served_policy=served)


@dataclass
class Publication:
    """What a run did: the last live plan, the write calls it took, and the lookups."""

    plan: Plan
    refused: bool = False
    superseded: bool = False  # the live plan holds changes the owner did not review
    done: bool = False
    writes: int = 0
    error: ProviderError | None = None
    visibility: list[Visibility] = field(default_factory=list)


@dataclass(frozen=True)
class Lookups:
    """The resolvers for SPF includes and for verification, and how long to wait for them."""

    resolver: dns.asyncresolver.Resolver
    timeout: float = 300.0
    max_interval: float = 10.0


@dataclass(frozen=True)
class Options:
    """What a publication may do beyond planning."""

    forced: bool = False
    reviewed: Plan | None = None  # apply only changes the owner saw in this plan
    kinds: tuple[str, ...] = ()  # only these kinds of record (a rotation: dkim)
    apply: bool = True
    verify: bool = True
    rounds: int = ROUNDS


async def publish(
    provider: DnsProvider,
    zone: Zone,
    domain: MailDomain,
    *,
    ttl: int,
    log: Log,
    lookups: Lookups,
    options: Options = Options(),
) -> Publication:
    """Plan again against the live zone, apply only what was reviewed, then verify.

    Planning again first is what makes an apply safe to repeat: an interrupted one leaves
    only its unfinished part to do, and a finished one leaves nothing (no write call). So a
    transient failure mid-apply (a 5xx on a write that is not retried, a rate limit beyond
    the retry budget) is met by planning again, a bounded number of rounds.
    """
    result: Publication | None = None
    for round_number in range(1, options.rounds + 1):
        result = await _round(provider, zone, domain, ttl, log, lookups, options, result)
        if result.done:
            break
        if round_number == options.rounds and result.error is not None:
            raise result.error
    assert result is not None
    if options.verify and options.apply and result.done and not result.refused:
        result.visibility = await verify(result.plan.wanted, lookups, log)
    return result


async def verify(wanted: Sequence[Wanted], lookups: Lookups, log: Log) -> list[Visibility]:
    """Ask the resolvers until every record is answered, or until the timeout."""
    servers = ", ".join(str(n) for n in lookups.resolver.nameservers)
    log(f"Asking {servers} until each of {len(wanted)} record(s) is answered")
    return await wait_visible(wanted, lookups.resolver, lookups.timeout, log, lookups.max_interval)


async def _round(
    provider: DnsProvider,
    zone: Zone,
    domain: MailDomain,
    ttl: int,
    log: Log,
    lookups: Lookups,
    options: Options,
    previous: Publication | None,
) -> Publication:
    result = Publication(previous.plan if previous else Plan(zone.name))
    result.writes = previous.writes if previous else 0
    try:
        await _plan_and_apply(provider, zone, domain, ttl, log, lookups, options, result)
    except ProviderError as exc:
        if exc.kind not in TRANSIENT:
            raise
        log(f"Interrupted: {exc.provider_message}. Planning again to finish the rest.")
        result.error, result.done = exc, False
    return result


async def _plan_and_apply(
    provider: DnsProvider,
    zone: Zone,
    domain: MailDomain,
    ttl: int,
    log: Log,
    lookups: Lookups,
    options: Options,
    result: Publication,
) -> None:
    plan = await live_plan(
        provider, zone, domain, ttl=ttl, forced=options.forced, resolver=lookups.resolver
    )
    result.plan = plan.only(*options.kinds) if options.kinds else plan
    plan = result.plan
    log(describe(plan))
    if not options.apply:
        result.done = True
    elif plan.blocked:
        result.refused = result.done = True
    elif options.reviewed is not None and not within(plan, options.reviewed):
        result.superseded = result.done = True
    elif not plan.changes:
        log("The zone holds every record: nothing to write.")
        result.done = True
    else:
        applied = await provider.apply(zone, plan.provider_changes)
        result.writes += applied.write_calls
        result.done = True
        log(
            f"{provider.title} took {applied.changes} change(s) in {applied.write_calls} "
            "write call(s)"
        )


def describe(plan: Plan) -> str:
    counts = plan.counts
    text = (
        f"Plan for {plan.zone}: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete ({plan.existing_count} records in the zone)"
    )
    if plan.refusals:
        text += "; refused: " + "; ".join(r.reason for r in plan.refusals)
    return text
