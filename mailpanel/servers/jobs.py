"""Server job kinds: facts, converge, health, queue, mail log, restart, test message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.utils import timezone

from mailpanel.jobs.context import JobContext, JobFailed
from mailpanel.jobs.registry import job_kind
from mailpanel.servers import operations
from mailpanel.servers.converge import Converger
from mailpanel.servers.facts import gather
from mailpanel.servers.lease import after_changes, changing
from mailpanel.servers.models import HostKeyState, Server
from mailpanel.servers.ssh import (
    CommandFailed,
    HostKeyChanged,
    Remote,
    SshError,
    SudoFailed,
    Target,
    fetch_host_key,
)
from mailpanel.servers.sshloop import EventSink, pool, run_on_ssh_loop, ssh_loop
from mailpanel.units import size_from_kib
from mailpanel.vault.access import open_for_job

T = TypeVar("T")
Work = Callable[[Remote, EventSink], Awaitable[T]]


def load_server(ctx: JobContext) -> Server:
    server = Server.objects.select_related("credential", "sudo_credential").get(
        pk=str(ctx.params["server_id"]), owner_id=ctx.job.owner_id
    )
    if server.host_key_state == HostKeyState.CHANGED:
        raise JobFailed(str(HostKeyChanged(server.host)))
    if server.host_key_state != HostKeyState.CONFIRMED:
        raise JobFailed("Confirm this server's host key first.")
    return server


def target_for(
    server: Server, ctx: JobContext, opened: dict[object, dict[str, Any]] | None = None
) -> Target:
    """The connection target; ``opened`` caches secrets a fleet run opened already."""
    cache = {} if opened is None else opened

    def secret(credential: Any) -> dict[str, Any]:
        if credential.pk not in cache:
            cache[credential.pk] = open_for_job(credential, ctx)
        return cache[credential.pk]

    login = secret(server.credential)
    sudo = secret(server.sudo_credential) if server.sudo_credential else {}
    return Target(
        host=server.host,
        port=server.port,
        username=server.username,
        pinned_host_key=server.host_key,
        private_key=login.get("private_key"),
        passphrase=login.get("passphrase") or None,
        password=login.get("password"),
        sudo_password=sudo.get("password"),
    )


def on_server(ctx: JobContext, server: Server, work: Work[T]) -> T:
    """Run ``work`` over a pooled connection; SSH failures become clear job errors."""
    target = target_for(server, ctx)

    async def main(sink: EventSink) -> T:
        conn = await pool.get(target)
        try:
            return await work(Remote(conn, target, log=sink.log), sink)
        except (CommandFailed, SudoFailed):
            raise  # the connection itself is fine: keep it for the next job
        except SshError:
            pool.discard(target)
            raise

    try:
        return run_on_ssh_loop(ctx, main)
    except HostKeyChanged as exc:
        mark_host_key_changed(server)
        raise JobFailed(str(exc)) from exc
    except SshError as exc:
        raise JobFailed(str(exc)) from exc


def mark_host_key_changed(server: Server) -> None:
    try:
        offered = ssh_loop.submit(fetch_host_key(server.host, server.port)).result(timeout=30)
    except SshError:
        offered = ""
    Server.objects.filter(pk=server.pk).update(
        host_key_state=HostKeyState.CHANGED, offered_host_key=offered
    )


@job_kind("server.facts", "Gather server facts")
def gather_facts(ctx: JobContext) -> None:
    server = load_server(ctx)
    facts = on_server(ctx, server, lambda remote, sink: gather(remote))
    store_facts(server, facts)
    ctx.log(
        f"{facts.get('os_name', '?')}, {facts.get('cpus', '?')} CPU(s), "
        f"{size_from_kib(facts.get('mem_kb'))} memory"
    )


def store_facts(server: Server, facts: dict[str, Any]) -> None:
    Server.objects.filter(pk=server.pk).update(facts=facts, facts_at=timezone.now())


# Why a converge was started, which is what its title says (`{field}`s from its params).
CONVERGE_PURPOSES = {
    "provision": "Provision the mail stack",
    "domain": "Start signing mail for {domain}",
    "domain_removed": "Stop signing mail for {domain}",
    "policy": "Update the MTA-STS policy of {domain}",
    "policy_site": "Serve the MTA-STS policy of {domain}",
    "login_added": "Add the SMTP login {login}",
    "login_removed": "Remove the SMTP login {login}",
}


@job_kind("server.converge", "Provision the mail stack", CONVERGE_PURPOSES)
def converge(ctx: JobContext) -> None:
    from mailpanel.domains.stack import build_mail_stack, record_converged

    server = load_server(ctx)

    async def work(remote: Remote, sink: EventSink) -> tuple[int, dict[str, Any]]:
        report = await Converger(remote, stack, sink.log).run()
        return len(report.changes), await gather(remote)

    with changing(server, ctx):
        # Built once our turn came, so it includes what the job before us added.
        built_at = timezone.now()
        stack = build_mail_stack(server, ctx)
        changes, facts = on_server(ctx, server, work)
    store_facts(server, facts)
    record_converged(server, stack, built_at)
    ctx.log(f"Converged with {changes} change(s)." if changes else "Already converged: no change.")
    ctx.job.status_text = f"{changes} change(s)"
    ctx.progress(100, f"{changes} change(s)")


@job_kind("server.health", "Health check")
def health_check(ctx: JobContext) -> None:
    server = load_server(ctx)
    result = on_server(ctx, server, lambda remote, sink: operations.health_check(remote, sink))
    facts = {**server.facts, "health": result, "health_at": timezone.now().isoformat()}
    store_facts(server, facts)
    if not result["healthy"]:
        raise JobFailed("Unhealthy: " + ", ".join(result["problems"]))


@job_kind("server.queue", "Mail queue")
def mail_queue(ctx: JobContext) -> None:
    server = load_server(ctx)
    action = str(ctx.params.get("action", "list"))
    queue_id = str(ctx.params.get("queue_id", ""))
    on_server(
        ctx, server, lambda remote, sink: operations.queue_action(remote, sink, action, queue_id)
    )


@job_kind("server.maillog", "Mail log")
def mail_log(ctx: JobContext) -> None:
    server = load_server(ctx)
    lines = int(str(ctx.params.get("lines", 100)))
    pattern = str(ctx.params.get("filter", ""))
    on_server(ctx, server, lambda remote, sink: operations.mail_log(remote, sink, lines, pattern))


@job_kind("server.restart", "Restart a service")
def restart_service(ctx: JobContext) -> None:
    server = load_server(ctx)
    service = str(ctx.params.get("service", ""))
    with changing(server, ctx):
        on_server(ctx, server, lambda remote, sink: operations.restart(remote, sink, service))


@job_kind("server.testmail", "Send a test message")
def test_message(ctx: JobContext) -> None:
    server = load_server(ctx)
    sender = str(ctx.params["sender"])
    recipient = str(ctx.params["recipient"])
    after_changes(server, ctx)  # a converge in progress may be the one adding the domain
    on_server(
        ctx, server, lambda remote, sink: operations.send_test(remote, sink, sender, recipient)
    )


@job_kind("fleet.run", "Fleet run")
def fleet_run(ctx: JobContext) -> None:
    from mailpanel.servers.fleet import run_fleet

    run_fleet(ctx)
