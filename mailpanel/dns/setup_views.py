"""The guided setup pages: one page per server, each step's action posted back to it."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from mailpanel.dns import actions
from mailpanel.dns.forms import LinkForm, PlanForm, TestMailForm
from mailpanel.dns.models import DnsAccount, PlanState
from mailpanel.dns.presenting import plan_rows, result_rows
from mailpanel.dns.setup import SetupState, state_of, test_sender
from mailpanel.domains import actions as domain_actions
from mailpanel.domains import claims
from mailpanel.domains.forms import DomainForm
from mailpanel.domains.views import say_what_was_found
from mailpanel.http import AuthedRequest
from mailpanel.ownership import get_owned_or_404
from mailpanel.servers import actions as server_actions
from mailpanel.servers.forms import ServerForm
from mailpanel.servers.models import Server
from mailpanel.servers.views import fetch_host_key

StepAction = Callable[[AuthedRequest, SetupState], HttpResponse | None]


@login_required
def dns_setup(request: AuthedRequest) -> HttpResponse:
    """Start with a new server, or resume the setup of one."""
    form = ServerForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        server = server_actions.add_server(request.user, **form.cleaned_data)
        fetch_host_key(request, server)
        return redirect("dns_setup_server", server_id=server.pk)
    servers = Server.objects.filter(owner=request.user).prefetch_related("domains")
    started = [(s, state_of(s)) for s in servers]
    return render(request, "dns/setup_start.html", {"form": form, "started": started})


@login_required
def dns_setup_server(request: AuthedRequest, server_id: UUID) -> HttpResponse:
    server = get_owned_or_404(Server, request.user, pk=server_id)
    state = state_of(server)
    if request.method == "POST":
        action = STEP_ACTIONS.get(request.POST.get("step", ""))
        response = action(request, state) if action else None
        return response or redirect("dns_setup_server", server_id=server.pk)
    return render(request, "dns/setup.html", context_for(request, state))


def context_for(request: AuthedRequest, state: SetupState) -> dict[str, object]:
    current = state.current
    context: dict[str, object] = {
        "state": state,
        "current": current,
        "server": state.server,
        "here": request.path,
    }
    key = current.key if current else ""
    domain = state.domain
    if key == "host_key":
        context["offered"] = state.server.offered_fingerprint
    elif key == "domain" and domain is None:
        context["domain_form"] = DomainForm(request.user, initial={"server": state.server.pk})
    elif key == "domain" and domain is not None and not domain.is_verified:
        context.update(claim=claims.instructions(domain), claim_step="claim")
    elif key == "zone":
        accounts = list(DnsAccount.objects.filter(owner=request.user))
        context.update(link_form=LinkForm(accounts), has_accounts=bool(accounts))
    elif key in ("plan", "apply", "verify") and state.plan is not None:
        context["rows"] = plan_rows(state.plan.content)
    if key in ("plan", "verify"):
        context["plan_form"] = PlanForm()
    if key == "test":
        context["test_form"] = TestMailForm()
    if state.plan is not None and state.plan.state == PlanState.APPLIED:
        context["results"] = result_rows(state.plan.result)
    return context


def _fetch_key(request: AuthedRequest, state: SetupState) -> None:
    fetch_host_key(request, state.server)


def _confirm_key(request: AuthedRequest, state: SetupState) -> None:
    try:
        server_actions.confirm_host_key(state.server, request.POST.get("fingerprint", ""))
    except server_actions.HostKeyMismatch as exc:
        messages.error(request, f"{exc} Check again before confirming.")


def _provision(request: AuthedRequest, state: SetupState) -> None:
    server_actions.start_converge(state.server, "provision")


def _sign(request: AuthedRequest, state: SetupState) -> None:
    """The converge that makes the server sign for the domain, again (the last one failed)."""
    if state.domain is not None and state.domain.is_verified:
        server_actions.start_converge(state.server, "domain", domain=state.domain.name)


def _add_domain(request: AuthedRequest, state: SetupState) -> HttpResponse | None:
    data = request.POST.copy()
    data["server"] = str(state.server.pk)
    form = DomainForm(request.user, data)
    if not form.is_valid():
        return _domain_form_again(request, state, form)
    cleaned = form.cleaned_data
    try:
        domain_actions.add_domain(
            request.user,
            state.server,
            cleaned["name"],
            cleaned["dmarc_policy"],
            cleaned["report_address"],
        )
    except domain_actions.DomainRefused as exc:
        form.add_error("name", str(exc))
        return _domain_form_again(request, state, form)
    return None


def _domain_form_again(request: AuthedRequest, state: SetupState, form: DomainForm) -> HttpResponse:
    context = context_for(request, state)
    context["domain_form"] = form
    return render(request, "dns/setup.html", context, status=400)


def _claim(request: AuthedRequest, state: SetupState) -> None:
    if state.domain is not None:
        say_what_was_found(request, state.domain)


def _plan(request: AuthedRequest, state: SetupState) -> None:
    form = PlanForm(request.POST)
    if state.domain is None:
        messages.error(request, "Add the sending domain first.")
        return
    if not form.is_valid():
        messages.error(request, "TTL: " + " ".join(str(e) for e in form.errors.get("ttl", [])))
        return
    try:
        actions.start_plan(state.domain, form.cleaned_data["ttl"], form.cleaned_data["force"])
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))


def _apply(request: AuthedRequest, state: SetupState) -> None:
    if state.plan is None:
        return
    try:
        actions.start_apply(state.plan, force=request.POST.get("force") == "on")
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))


def _verify(request: AuthedRequest, state: SetupState) -> None:
    if state.plan is None:
        return
    try:
        actions.start_verify(state.plan)
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))


def _test(request: AuthedRequest, state: SetupState) -> None:
    form = TestMailForm(request.POST)
    if state.domain is None or not form.is_valid():
        messages.error(request, "Give the address the test message goes to.")
        return
    server_actions.start_server_job(
        state.server,
        "server.testmail",
        sender=test_sender(state.domain),
        recipient=form.cleaned_data["recipient"],
    )


def setup_url(server: Server) -> str:
    return reverse("dns_setup_server", args=[server.pk])


STEP_ACTIONS: dict[str, StepAction] = {
    "fetch_key": _fetch_key,
    "host_key": _confirm_key,
    "provision": _provision,
    "sign": _sign,
    "domain": _add_domain,
    "claim": _claim,
    "plan": _plan,
    "apply": _apply,
    "verify": _verify,
    "test": _test,
}
