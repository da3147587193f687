"""What staff may do to an account's sign-in, each step audited."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.db import transaction

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event


@transaction.atomic
def reset_two_factor(user: User, actor: User) -> int:
    """Remove every authenticator of ``user``: they sign in with their password and may
    enrol again. The number removed; nothing is recorded when there was none."""
    removed, _ = Authenticator.objects.filter(user=user).delete()
    if removed:
        record_event(
            user,
            "mfa.reset",
            user,
            actor=actor,
            message=f"Two-factor authentication reset by staff ({removed} removed)",
        )
    return int(removed)
