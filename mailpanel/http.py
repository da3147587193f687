"""Request types for views behind ``login_required``."""

from __future__ import annotations

from django.http import HttpRequest

from mailpanel.accounts.models import User


class AuthedRequest(HttpRequest):
    user: User
