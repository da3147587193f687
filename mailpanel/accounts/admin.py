"""Staff see that an account has two-factor authentication and may reset it; never a secret."""

from __future__ import annotations

from allauth.mfa import admin as allauth_mfa_admin  # noqa: F401  (registers; removed below)
from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from mailpanel.accounts.actions import reset_two_factor
from mailpanel.accounts.models import User

# allauth's admin edits the raw `data` of an authenticator: its TOTP key and recovery seed.
# Importing it first makes the order certain, so it is registered before it is removed.
admin.site.unregister(Authenticator)


class AuthenticatorInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Authenticator
    verbose_name = "two-factor method"
    verbose_name_plural = "Two-factor authentication"
    fields = ("type", "created_at", "last_used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
    ordering = ("email",)
    list_display = ("email", "full_name", "company", "is_staff", "date_joined")
    search_fields = ("email", "full_name", "company")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "company", "adult_confirmed_at")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )
    readonly_fields = ("adult_confirmed_at", "last_login", "date_joined")
    inlines = (AuthenticatorInline,)
    actions = ("reset_mfa",)

    @admin.action(description="Reset two-factor authentication", permissions=("change",))
    def reset_mfa(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = request.user
        assert isinstance(actor, User)  # the staff site admits signed-in staff only
        reset = [user for user in queryset if reset_two_factor(user, actor)]
        self.message_user(
            request, f"Two-factor authentication reset for {len(reset)} account(s).", messages.INFO
        )
