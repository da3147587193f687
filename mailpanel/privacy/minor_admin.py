"""Staff review of minor reports: confirm (the account is deleted) or dismiss, with a note."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from mailpanel.accounts.models import User
from mailpanel.privacy import minors
from mailpanel.privacy.models import MinorReport, MinorReportState
from mailpanel.privacy.request_admin import CSS, ActionPage, Button, action_page_view, button
from mailpanel.privacy.request_forms import DecisionForm


def _confirm(report: MinorReport, staff: User, data: dict[str, Any]) -> str:
    minors.confirm(report, staff, data["note"])
    return "Confirmed: the account is deleted; the report is kept without the minor's data."


def _dismiss(report: MinorReport, staff: User, data: dict[str, Any]) -> str:
    minors.dismiss(report, staff, data["note"])
    return "Dismissed."


PAGES: dict[str, ActionPage] = {
    "confirm": ActionPage(
        "Confirm: delete the account",
        "Delete the account now",
        DecisionForm,
        _confirm,
        "Deletes the reported account as its owner would: its secrets are destroyed at once "
        "and every record removed. This cannot be undone. The report stays as the audit of "
        "the decision, without the address, the details or a link to the account.",
        danger=True,
    ),
    "dismiss": ActionPage("Dismiss", "Dismiss the report", DecisionForm, _dismiss),
}


@admin.register(MinorReport)
class MinorReportAdmin(admin.ModelAdmin[MinorReport]):
    list_display = ("__str__", "reported", "channel", "state", "received_at", "decided_at")
    list_filter = ("state", "channel")
    search_fields = ("reported_email", "reporter_email")
    ordering = ("-received_at",)
    fields = (
        ("reported_email", "user"),
        ("reporter_email", "channel", "received_at"),
        "details",
        ("state", "decided_by", "decided_at"),
        "decision_note",
    )
    readonly_fields = (
        "reported_email",
        "user",
        "reporter_email",
        "channel",
        "received_at",
        "details",
        "state",
        "decided_by",
        "decided_at",
        "decision_note",
    )
    change_form_template = "privacy/minor_admin_change_form.html"

    class Media:
        css = CSS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # reports come from the public form and from mail

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the audit of a decision stays; retention removes it

    @admin.display(description="Reported account")
    def reported(self, obj: MinorReport) -> str:
        return obj.reported_email or "(removed with the account)"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                f"<path:object_id>/{slug}/",
                self.admin_site.admin_view(self._page_view(slug)),
                name=f"privacy_minorreport_{slug}",
            )
            for slug in PAGES
        ]
        return [*own, *super().get_urls()]

    def _page_view(self, slug: str) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            refusals = (minors.DecisionRefused,)
            return action_page_view(self, request, object_id, PAGES[slug], refusals)

        return view

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        report = self.get_object(request, unquote(object_id))
        if report is not None:
            extra_context = {**(extra_context or {}), "buttons": self.buttons(report)}
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def buttons(report: MinorReport) -> list[Button]:
        if report.state != MinorReportState.OPEN:
            return []
        return [button(PAGES[s], f"admin:privacy_minorreport_{s}", report.pk) for s in PAGES]
