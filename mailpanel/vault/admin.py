"""Staff see that a credential exists and its public metadata; never its secret."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from mailpanel.vault.models import Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("label", "kind", "owner", "secret_key_id", "created_at", "last_used_at")
    list_filter = ("kind", "secret_key_id")
    search_fields = ("label", "owner__email")
    fields = ("label", "kind", "owner", "metadata", "secret_key_id", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
