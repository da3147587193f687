"""Sign-ins, sign-outs and failed sign-ins, written to the owner's activity.

allauth's session rows vanish at sign-out, so the durable record the owner can look back on
is an activity event with the address and browser. Connected in ``ActivityConfig.ready``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.http import HttpRequest

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event

SIGNED_IN = "account.signed_in"
SIGNED_OUT = "account.signed_out"
SIGN_IN_FAILED = "account.sign_in_failed"
SIGN_IN_ACTIONS = (SIGNED_IN, SIGNED_OUT, SIGN_IN_FAILED)


def client_ip(request: HttpRequest) -> str | None:
    """The peer's address; the web server has already put the real client there when it
    sits behind a trusted proxy. Anything that is not a plain address is not stored."""
    raw = str(request.META.get("REMOTE_ADDR", "")).strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    return None if "%" in str(address) else str(address)


def _is_real_request(request: HttpRequest | None) -> bool:
    # Client.force_login (tests, scripts) signs in with a bare HttpRequest that has no
    # method: nobody signed in from anywhere, so there is nothing to show the owner.
    return request is not None and bool(request.method)


def _record(user: User, action: str, request: HttpRequest) -> None:
    record_event(
        user,
        action,
        actor=user,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )


def on_signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if _is_real_request(request) and request is not None:
        _record(user, SIGNED_IN, request)


def on_signed_out(
    sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    if user is not None and _is_real_request(request) and request is not None:
        _record(user, SIGNED_OUT, request)


def on_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """A wrong password for a known account shows on that account's activity. An unknown
    address has no owner to tell, and is not written anywhere."""
    email = str(credentials.get("email") or credentials.get("username") or "")
    if not email or not _is_real_request(request) or request is None:
        return
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        _record(user, SIGN_IN_FAILED, request)
