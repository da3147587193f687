from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static

from mailpanel.accounts.actions import update_profile
from mailpanel.accounts.forms import ProfileForm
from mailpanel.accounts.models import User
from mailpanel.billing.plans import allowance
from mailpanel.dns.models import DnsAccount
from mailpanel.domains.models import SendingDomain
from mailpanel.http import AuthedRequest
from mailpanel.jobs.models import Job
from mailpanel.servers.models import Server

COMING_SOON = {
    "checks": ("Checks", "Deliverability checks with a score and the exact fix for each failure."),
}


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links: send them to the icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "pages/home.html")


@login_required
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    recent = Job.objects.filter(owner=user).only(
        "id", "kind", "target", "state", "created_at", "params"
    )[:5]
    context = {
        "recent_jobs": recent,
        "estate": estate_of(user),
        "mfa_on": is_mfa_enabled(user),
    }
    return render(request, "pages/dashboard.html", context)


def estate_of(user: User) -> dict[str, int]:
    """What the account holds, for the overview's cards (one query per kind)."""
    servers = Server.objects.filter(owner=user).aggregate(
        total=Count("id"), provisioned=Count("id", filter=Q(converged_at__isnull=False))
    )
    domains = SendingDomain.objects.filter(owner=user).aggregate(
        total=Count("id"), verified=Count("id", filter=Q(verified_at__isnull=False))
    )
    return {
        "servers": servers["total"],
        "provisioned": servers["provisioned"],
        "domains": domains["total"],
        "verified": domains["verified"],
        "dns_accounts": DnsAccount.objects.filter(owner=user).count(),
    }


@login_required
def coming_soon(request: AuthedRequest, section: str) -> HttpResponse:
    title, blurb = COMING_SOON[section]
    return render(request, "pages/coming_soon.html", {"title": title, "blurb": blurb})


@login_required
def account_profile(request: AuthedRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        update_profile(request.user, form.cleaned_data)
        messages.success(request, "Your profile was saved.")
        return redirect("account_profile")
    context = {"form": form, "allowance": allowance(request.user)}
    return render(request, "account/profile.html", context)


def cookies(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    return render(
        request,
        "pages/cookies.html",
        {
            "session_cookie": settings.SESSION_COOKIE_NAME,
            "csrf_cookie": settings.CSRF_COOKIE_NAME,
            "session_days": settings.SESSION_COOKIE_AGE // 86400,
        },
    )


@login_required
def staff_needs_mfa(request: AuthedRequest) -> HttpResponse:
    return render(request, "pages/staff_needs_mfa.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused for want of its CSRF cookie: almost always cookies blocked. Say so."""
    from django.conf import settings

    context = {
        "no_cookie": not request.COOKIES.get(settings.CSRF_COOKIE_NAME),
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
    }
    return render(request, "pages/cookies_needed.html", context, status=403)
