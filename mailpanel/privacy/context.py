"""The banner of a material policy change, on every page until the user acknowledges it.

The answer (which notice, if any) is looked up with one query at sign-in and kept in the
session, so a page costs no query for it. It is looked up again, once, when it is older than
``RECHECK_SECONDS`` or when notices changed since (``policy.notices_changed``: staff sent a
notice, or the user acknowledged one in another session). The context processor hands the
template a callable: pages without the banner (staff pages, mail) and anonymous visitors
cost nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from mailpanel.privacy.models import PolicyNotice
from mailpanel.privacy.policy import (
    diff_path,
    effective_date,
    notices_changed_at,
    record_shown,
)

SESSION_KEY = "policy_banner"
RECHECK_SECONDS = 600
REQUEST_ATTRIBUTE = "_policy_banner"


@dataclass(frozen=True)
class Banner:
    version: str
    summary: str
    effective: bool  # in force already: continued use is being recorded
    effective_date: str
    diff_url: str


def lookup(user_id: int) -> dict[str, Any] | None:
    """The notice the banner shows (the newest unacknowledged material one), as the session
    keeps it; None for no banner. One query."""
    notice = (
        PolicyNotice.objects.filter(
            user_id=user_id, acknowledged_at__isnull=True, policy__material=True
        )
        .select_related("policy")
        .order_by("-policy__published_at")
        .first()
    )
    if notice is None:
        return None
    return {
        "pk": notice.pk,
        "version": notice.policy.version,
        "summary": notice.policy.summary,
        "effective_at": notice.policy.published_at.timestamp(),
        "seen": notice.seen_at is not None,
        "continued": notice.continued_use_at is not None,
    }


def remember(session: SessionBase, user_id: int) -> dict[str, Any] | None:
    notice = lookup(user_id)
    session[SESSION_KEY] = {"at": time.time(), "notice": notice}
    return notice


def forget(session: SessionBase) -> None:
    session.pop(SESSION_KEY, None)


@receiver(user_logged_in, dispatch_uid="privacy.policy_banner")
def look_up_at_sign_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        remember(session, user.pk)


def _kept(session: SessionBase, user_id: int) -> dict[str, Any] | None:
    """The session's answer, or a fresh one when it is old or notices changed since."""
    kept = session.get(SESSION_KEY)
    if isinstance(kept, dict):
        at = float(kept.get("at", 0))
        if time.time() - at <= RECHECK_SECONDS and at >= notices_changed_at(user_id):
            notice: dict[str, Any] | None = kept.get("notice")
            return notice
    return remember(session, user_id)


def banner_for(request: HttpRequest) -> Banner | None:
    """The banner this request shows, if any; worked out once per request."""
    if not hasattr(request, REQUEST_ATTRIBUTE):
        setattr(request, REQUEST_ATTRIBUTE, _banner(request))
    banner: Banner | None = getattr(request, REQUEST_ATTRIBUTE)
    return banner


def _banner(request: HttpRequest) -> Banner | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    notice = _kept(request.session, user.pk)
    if notice is None:
        return None
    effective_at = datetime.fromtimestamp(notice["effective_at"], tz=UTC)
    effective = effective_at <= timezone.now()
    if not notice["seen"] or (effective and not notice["continued"]):
        record_shown(notice["pk"], continued_use=effective)
        notice.update(seen=True, continued=notice["continued"] or effective)
        request.session.modified = True
    return Banner(
        version=notice["version"],
        summary=notice["summary"],
        effective=effective,
        effective_date=effective_date(effective_at),
        diff_url=diff_path(notice["version"]),
    )


def policy_banner(request: HttpRequest) -> dict[str, Callable[[], Banner | None]]:
    return {"policy_banner": partial(banner_for, request)}
