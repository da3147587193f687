from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Case, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from mailpanel.billing.plans import DOMAINS, room
from mailpanel.domains import actions, claims
from mailpanel.domains.forms import DomainForm, DomainPolicyForm, SmtpUserForm
from mailpanel.domains.models import SendingDomain, SmtpUser
from mailpanel.domains.records import needed_records
from mailpanel.http import AuthedRequest
from mailpanel.listing import Sort, list_page
from mailpanel.ownership import get_owned_or_404

NOT_VERIFIED_FIRST = Case(When(verified_at__isnull=True, then=0), default=1)
DOMAIN_SORTS = {
    "name": Sort("Name", ["name"]),
    "state": Sort("Not verified first", [NOT_VERIFIED_FIRST.asc(), "name"]),
    "newest": Sort("Newest first", ["-created_at", "name"]),
}


@login_required
def domain_list(request: AuthedRequest) -> HttpResponse:
    domains = SendingDomain.objects.filter(owner=request.user).select_related("server")
    listing = list_page(request, domains, DOMAIN_SORTS)
    return render(request, "domains/list.html", {"listing": listing})


@login_required
def domain_add(request: AuthedRequest) -> HttpResponse:
    form = DomainForm(
        request.user, request.POST or None, initial={"server": request.GET.get("server")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        policy = (data["dmarc_policy"], data["report_address"])
        try:
            domain, job = actions.add_domain(request.user, data["server"], data["name"], *policy)
        except actions.DomainRefused as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, added_message(domain, job is not None))
            return redirect("domain_detail", domain_id=domain.pk)
    have = SendingDomain.objects.filter(owner=request.user).count()
    context = {"form": form, "room": room(request.user, DOMAINS, have)}
    return render(request, "domains/add.html", context, status=400 if form.errors else 200)


def added_message(domain: SendingDomain, verified: bool) -> str:
    if verified:
        return f"{domain.display_name} added with a new DKIM key; the server is being updated."
    return (
        f"{domain.display_name} added with a new DKIM key. Prove you control it (below) and "
        "the server starts signing its mail."
    )


@login_required
def domain_detail(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(
        SendingDomain.objects.select_related("server"), request.user, pk=domain_id
    )
    context = {
        "domain": domain,
        "records": needed_records(domain) if domain.is_verified else [],
        "claim": None if domain.is_verified else claims.instructions(domain),
        "users": domain.smtp_users.all(),
        "user_form": SmtpUserForm(domain),
    }
    return render(request, "domains/detail.html", context)


@login_required
@require_POST
def domain_verify(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    """Look for the proof of control now and say what was found."""
    domain = get_owned_or_404(
        SendingDomain.objects.select_related("server"), request.user, pk=domain_id
    )
    say_what_was_found(request, domain)
    return redirect("domain_detail", domain_id=domain.pk)


def say_what_was_found(request: AuthedRequest, domain: SendingDomain) -> None:
    """Run the check of control (also the guided setup's) and tell the owner its outcome."""
    if domain.is_verified:
        messages.info(request, f"{domain.display_name} is verified already.")
        return
    try:
        proof = actions.verify_domain(domain)
    except actions.DomainRefused as exc:
        messages.error(request, str(exc))
        return
    if proof.proven:
        messages.success(
            request,
            f"{domain.display_name} is verified: found {proof.found}. "
            "The server is being updated to sign its mail.",
        )
    else:
        messages.error(request, f"{domain.display_name} is not verified: {proof.found}.")


@login_required
def domain_policy(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(
        SendingDomain.objects.select_related("server"), request.user, pk=domain_id
    )
    form = DomainPolicyForm(domain, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = actions.change_policy(
            domain, data["dmarc_policy"], data["report_address"], data["mta_sts_mode"]
        )
        if job is None and not form.has_changed():
            messages.info(request, "Nothing changed.")
        else:
            messages.success(
                request,
                "Saved. Publish the change in DNS: plan the records, review, apply."
                + (" The server is getting the new MTA-STS policy first." if job else ""),
            )
        return redirect("domain_detail", domain_id=domain.pk)
    return render(request, "domains/policy.html", {"domain": domain, "form": form})


@login_required
@sensitive_post_parameters("password")
def smtp_user_add(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(SendingDomain, request.user, pk=domain_id)
    form = SmtpUserForm(domain, request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "domains/smtp_user_add.html", {"form": form, "domain": domain})
    password = form.cleaned_data["password"] or actions.generate_password()
    user, job = actions.add_smtp_user(domain, form.cleaned_data["local_part"], password)
    generated = not form.cleaned_data["password"]
    # Shown once, on this response only: the panel keeps nothing but the hash.
    response = render(
        request,
        "domains/smtp_user_created.html",
        # Not "user": the template's layout reads that name as the signed-in person.
        {
            "smtp_user": user,
            "password": password if generated else "",
            "job": job,
            "domain": domain,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def smtp_user_delete(request: AuthedRequest, user_id: UUID) -> HttpResponse:
    user = get_owned_or_404(SmtpUser.objects.select_related("domain"), request.user, pk=user_id)
    if request.method == "POST":
        job = actions.delete_smtp_user(user)
        messages.success(request, f"{user.address} can no longer send.")
        return redirect("job_detail", job_id=job.pk)
    return render(request, "domains/smtp_user_delete.html", {"user": user})


@login_required
def domain_delete(request: AuthedRequest, domain_id: UUID) -> HttpResponse:
    domain = get_owned_or_404(SendingDomain, request.user, pk=domain_id)
    if request.method == "POST":
        job = actions.delete_domain(domain)
        messages.success(
            request, f"{domain.display_name} was removed; the server is being updated."
        )
        return redirect("job_detail", job_id=job.pk)
    return render(request, "domains/delete.html", {"domain": domain, **left_in_dns(domain)})


def left_in_dns(domain: SendingDomain) -> dict[str, object]:
    """What the panel last published for the domain: it stays in the zone after removal."""
    from mailpanel.dns.models import DnsPlan, DomainZone, PlanState
    from mailpanel.dns.presenting import result_rows

    applied = DnsPlan.objects.filter(domain=domain, state=PlanState.APPLIED).order_by("-applied_at")
    # A key rotation applies DKIM alone (no plan job): the rest is the last full plan's.
    full, latest = applied.filter(plan_job__isnull=False).first(), applied.first()
    rows = result_rows(
        [r for r in (full.result if full else []) if r.get("kind") != "dkim"]
        + [r for r in (latest.result if latest else []) if r.get("kind") == "dkim"]
    )
    link = DomainZone.objects.filter(domain=domain).select_related("account").first()
    return {"left": rows, "link": link, "mx_left": any(r["type"] == "MX" for r in rows)}
