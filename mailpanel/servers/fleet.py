"""Fleet runs: one action over many servers as asyncio fan-out inside one worker.

Concurrency is bounded twice: by ``CONCURRENCY`` servers at once, and by the pool's
handshake limit (below sshd's MaxStartups). One server's failure is its own row; the
others go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.billing.plans import refuse_fleet_beyond_plan
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.context import JobContext
from mailpanel.servers import operations
from mailpanel.servers.converge import Converger
from mailpanel.servers.facts import health
from mailpanel.servers.lease import release, try_take
from mailpanel.servers.mailstack import MailStack
from mailpanel.servers.models import (
    FleetAction,
    FleetRun,
    FleetRunItem,
    HostKeyState,
    ItemState,
    Server,
)
from mailpanel.servers.ssh import HostKeyChanged, Remote, SshError, Target
from mailpanel.servers.sshloop import EventSink, pool, run_on_ssh_loop

CONCURRENCY = 50

Work = Callable[[Remote, EventSink], Awaitable[tuple[str, dict[str, Any]]]]


def start_fleet_run(owner: User, action: str, servers: list[Server]) -> FleetRun:
    refuse_fleet_beyond_plan(owner)
    with transaction.atomic():
        run = FleetRun.objects.create(owner=owner, action=action)
        FleetRunItem.objects.bulk_create([FleetRunItem(run=run, server=s) for s in servers])
        job = start_job(
            owner,
            "fleet.run",
            target=f"{len(servers)} servers",
            params={"fleet_run_id": str(run.pk)},
        )
        run.job = job
        run.save(update_fields=["job"])
    return run


async def _health(remote: Remote, sink: EventSink) -> tuple[str, dict[str, Any]]:
    result = await health(remote)
    down = [name for name, state in result["services"].items() if state != "active"]
    summary = "healthy" if not down else "down: " + ", ".join(down)
    summary += f"; queue {result.get('queue', '?')}; disk {result.get('disk_used_pct', '?')}%"
    return summary, result


async def _flush(remote: Remote, sink: EventSink) -> tuple[str, dict[str, Any]]:
    await operations.queue_action(remote, sink, "flush", "")
    return "queue flushed", {}


def _converge(stack: MailStack) -> Work:
    async def work(remote: Remote, sink: EventSink) -> tuple[str, dict[str, Any]]:
        report = await Converger(remote, stack, lambda text, level: None).run()
        summary = f"{len(report.changes)} change(s)" if report.changes else "no change"
        return summary, {"changes": report.changes, "seconds": report.seconds}

    return work


async def _one(item_id: int, target: Target, work: Work, sink: EventSink) -> None:
    started = time.monotonic()
    sink.emit("item", item_id, ItemState.RUNNING, "", {}, None)
    try:
        conn = await pool.get(target)
        summary, result = await work(Remote(conn, target), sink)
        state = ItemState.OK
    except HostKeyChanged as exc:
        state, summary, result = ItemState.FAILED, str(exc), {"host_key_changed": True}
    except SshError as exc:
        pool.discard(target)
        state, summary, result = ItemState.FAILED, str(exc), {}
    except Exception as exc:  # one server's surprise must not stop the others
        state, summary, result = ItemState.FAILED, f"{type(exc).__name__}: {exc}", {}
    sink.emit("item", item_id, state, summary, result, time.monotonic() - started)


async def fan_out(plan: list[tuple[int, Target, Work]], sink: EventSink) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def bounded(item_id: int, target: Target, work: Work) -> None:
        async with limit:
            await _one(item_id, target, work, sink)

    await asyncio.gather(*(bounded(*entry) for entry in plan))


def run_fleet(ctx: JobContext) -> None:
    from mailpanel.domains.stack import build_mail_stack, record_converged
    from mailpanel.servers.jobs import target_for

    run = FleetRun.objects.get(pk=str(ctx.params["fleet_run_id"]), owner_id=ctx.job.owner_id)
    items = list(run.items.select_related("server__credential", "server__sudo_credential"))
    plan: list[tuple[int, Target, Work]] = []
    opened: dict[object, dict[str, Any]] = {}  # one decryption (and audit line) per credential
    taken: list[UUID] = []
    stacks: dict[int, tuple[Server, MailStack, datetime]] = {}
    for item in items:
        server = item.server
        if server.host_key_state != HostKeyState.CONFIRMED:
            _store(item.pk, ItemState.FAILED, "host key not confirmed", {}, None)
            continue
        if run.action == FleetAction.CONVERGE:
            if not try_take(server.pk, ctx.job.pk):
                _store(item.pk, ItemState.FAILED, "another job is changing this server", {}, None)
                continue
            taken.append(server.pk)
            built_at = timezone.now()
            stacks[item.pk] = (server, build_mail_stack(server, ctx), built_at)
        work: Work = {FleetAction.HEALTH: _health, FleetAction.QUEUE_FLUSH: _flush}.get(
            run.action  # type: ignore[call-overload]
        ) or _converge(stacks[item.pk][1])
        plan.append((item.pk, target_for(server, ctx, opened), work))
    ctx.log(f"{run.get_action_display()} on {len(plan)} server(s)")
    pending: list[tuple[Any, ...]] = []
    try:
        run_on_ssh_loop(
            ctx,
            lambda sink: fan_out(plan, sink),
            {"item": lambda *event: pending.append(event)},
            after_batch=lambda: _store_batch(pending),
        )
    finally:
        for server_id in taken:
            release(server_id, ctx.job.pk)
    for item_id in run.items.filter(pk__in=stacks, state=ItemState.OK).values_list("pk", flat=True):
        record_converged(*stacks[item_id])
    FleetRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    failed = run.items.filter(state=ItemState.FAILED).count()
    ctx.log(f"Done: {len(items) - failed} OK, {failed} failed.")


def _store_batch(pending: list[tuple[Any, ...]]) -> None:
    """Write the item updates that arrived together in one transaction."""
    if not pending:
        return
    batch, pending[:] = list(pending), []
    with transaction.atomic():
        for event in batch:
            _store(*event)


def _store(
    item_id: int, state: str, summary: str, result: dict[str, Any], seconds: float | None
) -> None:
    fields: dict[str, Any] = {"state": state, "summary": summary[:500], "result": result}
    if state in (ItemState.OK, ItemState.FAILED):
        fields.update(seconds=seconds, finished_at=timezone.now())
        if result.get("host_key_changed"):
            item = FleetRunItem.objects.select_related("server").get(pk=item_id)
            Server.objects.filter(pk=item.server_id).update(host_key_state=HostKeyState.CHANGED)
    FleetRunItem.objects.filter(pk=item_id).update(**fields)
