"""The single owner check: another user's object is a 404, never a 403.

A malformed id (not a UUID, not a number) is a 404 too: Django raises ValidationError for a
bad UUID and ValueError for a bad integer, and neither may become a 500.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404

M = TypeVar("M", bound=Model)


def get_owned_or_404(queryset: type[M] | QuerySet[M], user: Any, **lookup: Any) -> M:
    qs = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    if user is None or not getattr(user, "is_authenticated", False):
        raise Http404("Not found")
    try:
        return qs.get(owner=user, **lookup)
    except (ObjectDoesNotExist, ValueError, ValidationError) as exc:
        raise Http404("Not found") from exc


async def aget_owned_or_404(queryset: type[M] | QuerySet[M], user: Any, **lookup: Any) -> M:
    qs = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    if user is None or not getattr(user, "is_authenticated", False):
        raise Http404("Not found")
    try:
        return await qs.aget(owner=user, **lookup)
    except (ObjectDoesNotExist, ValueError, ValidationError) as exc:
        raise Http404("Not found") from exc
