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


PROFILE_LABELS = {"full_name": "Name", "company": "Company"}
PROFILE_FIELDS = tuple(PROFILE_LABELS)


@transaction.atomic
def update_profile(user: User, values: dict[str, str]) -> list[str]:
    """Correct the profile; each changed field is logged with its old and new value."""
    changed = [name for name in PROFILE_FIELDS if getattr(user, name) != values[name]]
    for name in changed:
        old = getattr(user, name)
        setattr(user, name, values[name])
        label = PROFILE_LABELS[name]
        record_event(
            user,
            "account.profile_changed",
            user,
            actor=user,
            message=f"{label}: {old or '(empty)'} → {values[name] or '(empty)'}",
        )
    if changed:
        user.save(update_fields=changed)
    return changed
