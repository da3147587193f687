"""Request types for views behind ``login_required``, and the one check of a ``next`` page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from mailpanel.accounts.models import User


class AuthedRequest(HttpRequest):
    user: User


def local_next(request: HttpRequest, fallback: str) -> str:
    """The page that sent the user (``next`` in the form or query), if it is a path on this
    panel; anything else (another host, ``//host``, a scheme) gives ``fallback``."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    local = wanted.startswith("/") and not wanted.startswith(("//", "/\\"))
    if local and url_has_allowed_host_and_scheme(wanted, allowed_hosts=set()):
        return wanted
    return fallback
