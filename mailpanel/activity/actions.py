from __future__ import annotations

from typing import Any

from django.db.models import Model

from mailpanel.activity.models import ActivityEvent
from mailpanel.vault.redaction import redact

USER_AGENT_MAX = 300


def record_event(
    owner: Any,
    action: str,
    obj: Model | None = None,
    *,
    actor: Any = None,
    job: Any = None,
    message: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> ActivityEvent:
    """Write one audit line. Messages pass through redaction: values never belong here.

    ``ip`` and ``user_agent`` say where a sign-in came from; other events leave them empty.
    """
    return ActivityEvent.objects.create(
        owner=owner,
        actor=actor,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_label=redact(str(obj))[:200] if obj is not None else "",
        job=job,
        message=redact(message)[:500],
        ip=ip or None,
        user_agent=user_agent[:USER_AGENT_MAX],
    )
