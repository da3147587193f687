"""Staff see that a credential exists and its public metadata; never its secret."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from mailpanel.vault.models import Credential, DataKey


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Credential)
class CredentialAdmin(ReadOnlyAdmin):
    list_display = ("label", "kind", "owner", "secret_key_id", "created_at", "last_used_at")
    list_filter = ("kind", "secret_key_id")
    search_fields = ("label", "owner__email")
    fields = ("label", "kind", "owner", "metadata", "secret_key_id", "created_at", "last_used_at")
    readonly_fields = fields


@admin.register(DataKey)
class DataKeyAdmin(ReadOnlyAdmin):
    """Which master key wraps a user's data key, and whether it was shredded; never the key.

    Deleting is refused too: it would shred the key outside ``shred_data_key``."""

    list_display = ("owner", "wrapped_key_id", "created_at", "shredded_at")
    list_filter = ("wrapped_key_id",)
    search_fields = ("owner__email",)
    fields = ("owner", "wrapped_key_id", "created_at", "shredded_at")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
