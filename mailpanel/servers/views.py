"""Server pages: thin views that check the owner and call one action."""

from __future__ import annotations

from uuid import UUID

from django import forms as forms_module
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Case, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mailpanel.billing.plans import SERVERS, room
from mailpanel.http import AuthedRequest
from mailpanel.jobs.models import Job
from mailpanel.listing import Sort, list_page
from mailpanel.ownership import get_owned_or_404
from mailpanel.servers import actions
from mailpanel.servers.forms import MailLogForm, QueueForm, RestartForm, ServerForm, TestMessageForm
from mailpanel.servers.models import HostKeyState, Server
from mailpanel.servers.ssh import SshError

# The state that needs the owner first: a changed key, then one not confirmed yet.
KEY_STATE_RANK = Case(
    When(host_key_state=HostKeyState.CHANGED, then=0),
    When(host_key_state=HostKeyState.UNCONFIRMED, then=1),
    default=2,
)
SERVER_SORTS = {
    "name": Sort("Name", ["name"]),
    "state": Sort("Host key to check first", [KEY_STATE_RANK.asc(), "name"]),
    "newest": Sort("Newest first", ["-created_at", "name"]),
}


@login_required
def server_list(request: AuthedRequest) -> HttpResponse:
    servers = Server.objects.filter(owner=request.user).only(
        "id", "name", "host", "port", "username", "host_key_state", "facts", "converged_at"
    )
    listing = list_page(request, servers, SERVER_SORTS)
    return render(request, "servers/list.html", {"listing": listing})


@login_required
def server_add(request: AuthedRequest) -> HttpResponse:
    form = ServerForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        server = actions.add_server(request.user, **form.cleaned_data)
        fetch_host_key(request, server)
        return redirect("server_host_key", server_id=server.pk)
    have = Server.objects.filter(owner=request.user).count()
    context = {"form": form, "room": room(request.user, SERVERS, have)}
    return render(request, "servers/add.html", context)


def fetch_host_key(request: AuthedRequest, server: Server) -> None:
    """Ask the server for its key (a POST's work: it opens a connection); errors as messages."""
    try:
        actions.offer_host_key(server)
    except (SshError, TimeoutError) as exc:
        messages.error(request, str(exc) or "The server did not answer in time.")


@login_required
def server_host_key(request: AuthedRequest, server_id: UUID) -> HttpResponse:
    """GET shows the key offered last (no connection); POST fetches it again or pins it."""
    server = get_owned_or_404(Server, request.user, pk=server_id)
    if request.method == "POST" and "fetch" in request.POST:
        fetch_host_key(request, server)
        return redirect("server_host_key", server_id=server.pk)
    if request.method == "POST":
        try:
            job = actions.confirm_host_key(server, request.POST.get("fingerprint", ""))
        except actions.HostKeyMismatch as exc:
            messages.error(request, f"{exc} Check again before confirming.")
            return redirect("server_host_key", server_id=server.pk)
        messages.success(request, "Host key pinned. Reading the server's facts now.")
        return redirect("job_detail", job_id=job.pk)
    context = {"server": server, "offered": server.offered_fingerprint}
    return render(request, "servers/host_key.html", context)


@login_required
def server_detail(request: AuthedRequest, server_id: UUID) -> HttpResponse:
    server = get_owned_or_404(Server, request.user, pk=server_id)
    jobs = Job.objects.filter(owner=request.user, params__server_id=str(server.pk)).only(
        "id", "kind", "target", "params", "state", "created_at"
    )[:10]
    context = {
        "server": server,
        "domains": server.domains.all(),
        "jobs": jobs,
        "queue_form": QueueForm(),
        "log_form": MailLogForm(),
        "restart_form": RestartForm(),
        "test_form": TestMessageForm(server),
    }
    return render(request, "servers/detail.html", context)


def _start(request: AuthedRequest, server: Server, kind: str, **params: object) -> HttpResponse:
    if server.host_key_state != HostKeyState.CONFIRMED:
        messages.error(request, "Confirm this server's host key before running actions on it.")
        return redirect("server_detail", server_id=server.pk)
    job = actions.start_server_job(server, kind, **params)
    return redirect("job_detail", job_id=job.pk)


SIMPLE_ACTIONS: dict[str, tuple[str, dict[str, object]]] = {
    "converge": ("server.converge", {"purpose": "provision"}),
    "health": ("server.health", {}),
    "facts": ("server.facts", {}),
}


@login_required
@require_POST
def server_action(request: AuthedRequest, server_id: UUID, action: str) -> HttpResponse:
    server = get_owned_or_404(Server, request.user, pk=server_id)
    forms = {"queue": QueueForm, "maillog": MailLogForm, "restart": RestartForm}
    if action in SIMPLE_ACTIONS:
        kind, params = SIMPLE_ACTIONS[action]
        return _start(request, server, kind, **params)
    form: forms_module.Form
    if action == "testmail":
        form = TestMessageForm(server, request.POST)
    elif action in forms:
        form = forms[action](request.POST)
    else:
        return redirect("server_detail", server_id=server.pk)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return redirect("server_detail", server_id=server.pk)
    return _start(request, server, f"server.{action}", **form.cleaned_data)


@login_required
def server_delete(request: AuthedRequest, server_id: UUID) -> HttpResponse:
    server = get_owned_or_404(Server, request.user, pk=server_id)
    domains = list(server.domains.all())
    if request.method == "POST" and not domains:
        actions.delete_server(server)
        messages.success(request, f"“{server.name}” was removed from the panel.")
        return redirect("servers")
    status = 409 if request.method == "POST" else 200
    return render(
        request, "servers/delete.html", {"server": server, "domains": domains}, status=status
    )


@login_required
@require_POST
def fleet_start(request: AuthedRequest) -> HttpResponse:
    from mailpanel.servers.fleet import start_fleet_run
    from mailpanel.servers.models import FleetAction

    action = request.POST.get("action", "")
    ids = request.POST.getlist("server")
    servers = list(Server.objects.filter(owner=request.user, pk__in=_uuids(ids)))
    if action not in FleetAction.values or not servers or len(servers) != len(set(ids)):
        messages.error(request, "Choose an action and at least one of your servers.")
        return redirect("servers")
    run = start_fleet_run(request.user, action, servers)
    return redirect("server_fleet_run", run_id=run.pk)


def _uuids(values: list[str]) -> list[UUID]:
    found = []
    for value in values:
        try:
            found.append(UUID(value))
        except ValueError:
            continue
    return found


@login_required
def fleet_run(request: AuthedRequest, run_id: UUID) -> HttpResponse:
    from mailpanel.servers.models import FleetRun

    run = get_owned_or_404(FleetRun.objects.select_related("job"), request.user, pk=run_id)
    items = run.items.select_related("server").only(
        "id", "state", "summary", "seconds", "server__name", "server__host"
    )
    template = "servers/_fleet_table.html" if request.htmx else "servers/fleet_run.html"  # type: ignore[attr-defined]
    done = run.finished_at is not None
    return render(request, template, {"run": run, "items": items, "done": done})
