from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.privacy.models import PolicyAcceptance, PolicyVersion


def record_policy_acceptance(
    user: User, request: HttpRequest | None = None, *, transfers: bool = False
) -> PolicyAcceptance:
    """The user accepted the policy in force (and, at signup, international transfers)."""
    policy = PolicyVersion.current()
    if policy is None:
        raise ValueError("No privacy policy is published")
    acceptance, _ = PolicyAcceptance.objects.get_or_create(user=user, policy=policy)
    if transfers and acceptance.transfers_consented_at is None:
        acceptance.transfers_consented_at = timezone.now()
        acceptance.save(update_fields=["transfers_consented_at"])
    return acceptance


def pause_processing(user: User) -> None:
    """Restriction: no job of the user's runs (queued ones included) until they resume."""
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk, processing_paused_at__isnull=True).update(
            processing_paused_at=timezone.now()
        )
        if changed:
            record_event(user, "privacy.processing_paused", user, actor=user)
    user.refresh_from_db(fields=["processing_paused_at"])


def resume_processing(user: User) -> None:
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk, processing_paused_at__isnull=False).update(
            processing_paused_at=None
        )
        if changed:
            record_event(user, "privacy.processing_resumed", user, actor=user)
    user.refresh_from_db(fields=["processing_paused_at"])
