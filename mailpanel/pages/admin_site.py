"""The Django admin, open only to staff who signed in with a second factor."""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


def signed_in_with_mfa(request: HttpRequest) -> bool:
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


class PanelAdminSite(admin.AdminSite):
    site_header = "MailPanel Pro staff"
    site_title = "MailPanel Pro staff"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and is_mfa_enabled(user)
            and signed_in_with_mfa(request)
        )

    def login(self, request: HttpRequest, extra_context: object = None) -> HttpResponse:
        """Staff sign in through the panel's own login (with 2FA), never a second form."""
        if request.user.is_authenticated and request.user.is_staff:
            return HttpResponseRedirect(reverse("staff_needs_mfa"))
        if request.user.is_authenticated:
            # Sending a signed-in member to the login page would send them straight back here.
            messages.info(request, "The staff pages are for the panel's operators.")
            return HttpResponseRedirect(reverse("dashboard"))
        target = request.GET.get("next") or reverse("admin:index")
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': target})}")
