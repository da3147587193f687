"""DNS pages: accounts, a domain's zone link and plans, plan review and apply. Thin views."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Case, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mailpanel.dns import actions
from mailpanel.dns.forms import AccountForm, ApplyForm, LinkForm, PlanForm
from mailpanel.dns.models import DnsAccount, DnsPlan, DomainZone, PlanState
from mailpanel.dns.presenting import plan_rows, result_rows
from mailpanel.dns.providers.registry import PROVIDERS
from mailpanel.domains.models import SendingDomain
from mailpanel.http import AuthedRequest, local_next
from mailpanel.jobs.models import Job
from mailpanel.listing import Sort, list_page
from mailpanel.ownership import get_owned_or_404
from mailpanel.vault.kinds import KINDS

BUSY = (PlanState.PLANNING, PlanState.APPLYING)
DNS_DOMAIN_SORTS = {
    "name": Sort("Name", ["name"]),
    "state": Sort(
        "Not linked first", [Case(When(dns_zone__isnull=True, then=0), default=1).asc(), "name"]
    ),
    "newest": Sort("Newest first", ["-created_at", "name"]),
}


@login_required
def dns_index(request: AuthedRequest) -> HttpResponse:
    accounts = DnsAccount.objects.filter(owner=request.user).select_related("credential")
    domains = SendingDomain.objects.filter(owner=request.user).select_related(
        "dns_zone__account", "server"
    )
    context = {"accounts": accounts, "listing": list_page(request, domains, DNS_DOMAIN_SORTS)}
    return render(request, "dns/index.html", context)


@login_required
def dns_account_add(request: AuthedRequest) -> HttpResponse:
    initial = {"credential": request.GET.get("credential")}  # just stored, sent back here
    form = AccountForm(request.user, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account, _job = actions.connect_account(request.user, data["credential"], data["label"])
        except actions.DnsActionRefused as exc:
            form.add_error("credential", str(exc))
        else:
            messages.success(request, f"“{account.label}” connected; testing it now.")
            return redirect(local_next(request, reverse("dns_account_detail", args=[account.pk])))
    context = {
        "form": form,
        "next": local_next(request, ""),
        "dns_kinds": [KINDS[kind] for kind in PROVIDERS],
        "here": request.path,
    }
    return render(request, "dns/account_add.html", context)


@login_required
def dns_account_detail(request: AuthedRequest, account_id: UUID) -> HttpResponse:
    account = get_owned_or_404(
        DnsAccount.objects.select_related("credential"), request.user, pk=account_id
    )
    job = Job.objects.filter(
        owner=request.user, kind="dns.account_test", params__account_id=str(account.pk)
    ).first()
    links = account.links.select_related("domain")
    context = {"account": account, "job": job, "links": links}
    return render(request, "dns/account_detail.html", context)


@login_required
@require_POST
def dns_account_test(request: AuthedRequest, account_id: UUID) -> HttpResponse:
    account = get_owned_or_404(DnsAccount, request.user, pk=account_id)
    actions.test_account(account)
    return redirect("dns_account_detail", account_id=account.pk)


@login_required
def dns_account_delete(request: AuthedRequest, account_id: UUID) -> HttpResponse:
    account = get_owned_or_404(DnsAccount, request.user, pk=account_id)
    if request.method == "POST":
        try:
            actions.delete_account(account)
        except actions.DnsActionRefused as exc:
            messages.error(request, str(exc))
            return redirect("dns_account_detail", account_id=account.pk)
        messages.success(request, f"“{account.label}” was disconnected (the credential stays).")
        return redirect("dns")
    return render(request, "dns/account_delete.html", {"account": account})


@login_required
def dns_domain(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(
        SendingDomain.objects.select_related("server"), request.user, pk=domain_id
    )
    accounts = list(DnsAccount.objects.filter(owner=request.user))
    link = DomainZone.objects.filter(domain=domain).select_related("account").first()
    context = {
        "domain": domain,
        "link": link,
        "link_form": LinkForm(accounts),
        "plan_form": PlanForm(),
        "plans": DnsPlan.objects.filter(domain=domain).only(
            "id", "state", "created_at", "zone_name", "content"
        )[:10],
        "has_accounts": bool(accounts),
    }
    return render(request, "dns/domain.html", context)


@login_required
@require_POST
def dns_domain_link(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(SendingDomain, request.user, pk=domain_id)
    back = local_next(request, reverse("dns_domain", args=[domain.pk]))
    try:
        if request.POST.get("automatic"):
            link = actions.link_automatically(domain)
        else:
            form = LinkForm(list(DnsAccount.objects.filter(owner=request.user)), request.POST)
            if not form.is_valid():
                for errors in form.errors.values():
                    messages.error(request, " ".join(str(e) for e in errors))
                return redirect(back)
            link = actions.link_zone(domain, *form.cleaned_data["zone"])
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, f"{domain.display_name} publishes in {link.zone_display}.")
    return redirect(back)


@login_required
@require_POST
def dns_plan_start(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(SendingDomain, request.user, pk=domain_id)
    form = PlanForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return redirect("dns_domain", domain_id=domain.pk)
    try:
        plan = actions.start_plan(domain, form.cleaned_data["ttl"], form.cleaned_data["force"])
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))
        return redirect(local_next(request, reverse("dns_domain", args=[domain.pk])))
    return redirect(local_next(request, reverse("dns_plan", args=[plan.pk])))


@login_required
def dns_plan(request: AuthedRequest, plan_id: UUID) -> HttpResponse:
    plan = get_owned_or_404(
        DnsPlan.objects.select_related("domain", "plan_job", "apply_job"), request.user, pk=plan_id
    )
    context = {
        "plan": plan,
        "rows": plan_rows(plan.content),
        "results": result_rows(plan.result),
        "busy": plan.state in BUSY,
        "job": actions.latest_verify(plan) or plan.apply_job or plan.plan_job,
        "unanswered": any(not r["visible"] for r in plan.result),
        "apply_form": ApplyForm(),
        "forceable": any(r["forceable"] for r in plan.content.get("refusals", [])),
        "blocked": any(not r["forceable"] for r in plan.content.get("refusals", [])),
    }
    return render(request, "dns/plan.html", context)


@login_required
@require_POST
def dns_plan_apply(request: AuthedRequest, plan_id: UUID) -> HttpResponse:
    plan = get_owned_or_404(DnsPlan.objects.select_related("domain"), request.user, pk=plan_id)
    form = ApplyForm(request.POST)
    force = form.is_valid() and form.cleaned_data["force"]
    try:
        actions.start_apply(plan, force=force)
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))
    return redirect(local_next(request, reverse("dns_plan", args=[plan.pk])))


@login_required
@require_POST
def dns_plan_verify(request: AuthedRequest, plan_id: UUID) -> HttpResponse:
    plan = get_owned_or_404(DnsPlan.objects.select_related("domain"), request.user, pk=plan_id)
    try:
        actions.start_verify(plan)
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))
    return redirect(local_next(request, reverse("dns_plan", args=[plan.pk])))


@login_required
def dns_job_watch(request: AuthedRequest, job_id: UUID) -> HttpResponse:
    """Polled by htmx while a job runs: reloads the page once the job has finished."""
    job = get_owned_or_404(Job.objects.only("id", "state", "owner_id"), request.user, pk=job_id)
    response = HttpResponse(status=204)
    if job.is_finished:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def dns_rotate(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(SendingDomain, request.user, pk=domain_id)
    try:
        job = actions.start_rotation(domain)
    except actions.DnsActionRefused as exc:
        messages.error(request, str(exc))
        return redirect("dns_domain", domain_id=domain.pk)
    return redirect("job_detail", job_id=job.pk)
