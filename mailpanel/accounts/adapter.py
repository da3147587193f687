"""allauth, as the panel uses it: signup only under a published policy, and a login lockout
that a stranger cannot turn against an account's owner."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from django.conf import settings
from django.http import HttpRequest

ACCOUNT_LIMIT = "login_failed_account"


class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]
    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # The panel's name and address, not the request's host ("Hello from 127.0.0.1:8000!").
        super().send_mail(template_prefix, email, {**context, "panel_url": settings.PUBLIC_URL})

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        from mailpanel.privacy.models import PolicyVersion

        return PolicyVersion.current() is not None

    def _account_key(self, request: HttpRequest, **credentials: Any) -> str:
        return str(super()._get_login_attempts_cache_key(request, **credentials))

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth's key is the account alone: anyone's wrong passwords then lock its owner
        # out. Keyed by account and address, the short lockout (login_failed) stops only
        # the address that failed; a longer per-account limit still bounds a spread attack.
        account = self._account_key(request, **credentials)
        return f"{account}:{self.get_client_ip(request)}"

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        super().pre_authenticate(request, **credentials)
        key = self._account_key(request, **credentials)
        self._account_usage = ratelimit.consume(
            request, app="allauth.account", action=ACCOUNT_LIMIT, key=key
        )
        if not self._account_usage:
            super()._rollback_login_failed_rl_usage()
            raise self.validation_error("too_many_login_attempts")

    def _rollback_login_failed_rl_usage(self) -> None:
        super()._rollback_login_failed_rl_usage()
        if usage := getattr(self, "_account_usage", None):
            usage.rollback()

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        super()._delete_login_attempts_cached_email(request, **credentials)
        key = self._account_key(request, **credentials)
        ratelimit.clear(request, app="allauth.account", action=ACCOUNT_LIMIT, key=key)
