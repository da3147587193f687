"""Staff delete an account the way its owner would: shredded, every category removed.

Django's own delete would stop at the protected keys (a domain's server, a server's
credential) and, past them, leave secrets that the data key should have made unreadable.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mailpanel.accounts.admin import UserAdmin
from mailpanel.accounts.models import User
from mailpanel.privacy.deletion import DeletionDeferred, delete_now
from mailpanel.privacy.minor_admin import MinorReportAdmin  # noqa: F401  (registers it)
from mailpanel.privacy.registry import counts_of
from mailpanel.privacy.request_admin import DataRequestAdmin  # noqa: F401  (registers it)

admin.site.unregister(User)


@admin.register(User)
class PrivacyUserAdmin(UserAdmin):
    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        """What the confirmation page lists: each account's categories, nothing protected."""
        summary: list[Any] = []
        model_count: dict[str, int] = {}
        for user in objs:
            parts = [f"{cat.title}: {n}" for cat, n in counts_of(user) if n]
            summary += [str(user), parts]
            model_count["accounts"] = model_count.get("accounts", 0) + 1
        return summary, model_count, set(), []

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        actor = request.user if isinstance(request.user, User) else None
        try:
            delete_now(obj, actor)
        except DeletionDeferred as exc:
            messages.error(request, f"{obj}: not deleted. {exc}")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in list(queryset):
            self.delete_model(request, user)
        messages.info(request, "Secrets shredded and every record removed.")
