"""Corrections of the account land in the activity log (old and new value: none is secret)."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import email_changed
from django.dispatch import receiver

from mailpanel.activity.actions import record_event


@receiver(email_changed)
def record_email_change(
    sender: Any, request: Any, user: Any, from_email_address: Any, to_email_address: Any, **_: Any
) -> None:
    old = from_email_address.email if from_email_address else ""
    record_event(
        user,
        "account.email_changed",
        user,
        actor=user,
        message=f"Email changed from {old or 'none'} to {to_email_address.email}",
    )
