from __future__ import annotations

from django.http import HttpRequest

from mailpanel.accounts.models import User
from mailpanel.privacy.models import PolicyAcceptance, PolicyVersion


def record_policy_acceptance(user: User, request: HttpRequest | None = None) -> PolicyAcceptance:
    policy = PolicyVersion.current()
    if policy is None:
        raise ValueError("No privacy policy is published")
    acceptance, _ = PolicyAcceptance.objects.get_or_create(user=user, policy=policy)
    return acceptance
