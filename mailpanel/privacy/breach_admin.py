"""The staff pages of an incident: open it, test it, send it, and prove the 72 hours were kept.

The incident page shows the clock, the notices by state and a page of them with their
``sent_at``, and offers them all as CSV. Its facts are frozen once sending started, so
the notices and the incident always agree.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from mailpanel.accounts.models import User
from mailpanel.activity.export import spreadsheet_safe
from mailpanel.privacy import breach, breach_tasks  # noqa: F401  (registers the tasks too)
from mailpanel.privacy.breach_clock import clock, hours_minutes, tally
from mailpanel.privacy.breach_forms import IncidentForm
from mailpanel.privacy.models import BreachNotice, Incident

NOTICES_PER_PAGE = 100
RECORD = ("created_by", "created_at", "test_sent_at", "sending_started_at", "sending_finished_at")
FACTS = ("title", "aware_at", "what_happened")
NOTICE = ("notice_subject", "notice_text")
AUDIENCE = ("audience_kind", "credential_kind", ("active_from", "active_to"), "emails")
EDITING = (
    (None, {"fields": (*FACTS, "categories")}),
    ("Who is affected", {"fields": (*AUDIENCE, "emails_file")}),
    ("The notice", {"fields": NOTICE}),
    ("Record", {"fields": RECORD}),
)
FROZEN = (
    (None, {"fields": (*FACTS, "categories_affected")}),
    ("Who is affected", {"fields": ("audience_summary",)}),
    ("The notice", {"fields": NOTICE}),
    ("Record", {"fields": RECORD}),
)


def _utc(moment: datetime | None) -> str:
    return (
        moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if moment
        else ""
    )


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin[Incident]):
    form = IncidentForm
    list_display = ("title", "aware_at", "sending_started_at", "sending_finished_at")
    search_fields = ("title",)
    date_hierarchy = "aware_at"

    def get_fieldsets(self, request: HttpRequest, obj: Incident | None = None) -> Any:
        return FROZEN if self._frozen(obj) else EDITING

    def get_readonly_fields(self, request: HttpRequest, obj: Incident | None = None) -> Any:
        if self._frozen(obj):
            return (*FACTS, "categories_affected", "audience_summary", *NOTICE, *RECORD)
        return RECORD

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if self._frozen(obj):
            kwargs["form"] = forms.ModelForm  # nothing left to edit
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Once sent, the incident and its notices are the proof: they stay.
        return not self._frozen(obj) and super().has_delete_permission(request, obj)

    @staticmethod
    def _frozen(obj: Incident | None) -> bool:
        return obj is not None and obj.sending_started_at is not None

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        if not change and isinstance(request.user, User):
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Affected categories")
    def categories_affected(self, obj: Incident) -> str:
        return format_html_join(
            "", "<div>{}</div>", ((t,) for t in breach.category_titles(obj.categories))
        )

    @admin.display(description="Audience")
    def audience_summary(self, obj: Incident) -> str:
        return breach.describe_audience(obj.audience)

    # --- the incident page --------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        incident = self.get_object(request, object_id)
        if incident is not None:
            extra_context = {**(extra_context or {}), **self._status(request, incident)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _status(self, request: HttpRequest, incident: Incident) -> dict[str, Any]:
        # Not incident.notices: the related manager reads each row's incident_id back.
        notices = BreachNotice.objects.filter(incident=incident).order_by("pk")
        notices = notices.only("email", "state", "sent_at", "attempts", "error")
        page = Paginator(notices, NOTICES_PER_PAGE).get_page(request.GET.get("page"))
        rows = [(notice, _after(incident, notice.sent_at)) for notice in page]
        counted = tally(incident)
        return {
            "clock": clock(incident, counted),
            "tally": counted,
            "recipients": _preview(incident),
            "audience": breach.describe_audience(incident.audience),
            "notices_page": page,
            "notice_rows": rows,
            "can_send": self.has_change_permission(request, incident),
        }

    # --- the buttons ----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path(
                "<uuid:object_id>/send-test/",
                view(require_POST(self.send_test_view)),
                name="privacy_incident_send_test",
            ),
            path(
                "<uuid:object_id>/send/",
                view(require_POST(self.send_view)),
                name="privacy_incident_send",
            ),
            path(
                "<uuid:object_id>/retry-failed/",
                view(require_POST(self.retry_view)),
                name="privacy_incident_retry",
            ),
            path("<uuid:object_id>/notices.csv", view(self.csv_view), name="privacy_incident_csv"),
        ]
        return own + super().get_urls()

    def _changeable(self, request: HttpRequest, object_id: Any) -> Incident:
        incident = self.get_object(request, str(object_id))
        if incident is None or not self.has_change_permission(request, incident):
            raise Http404("No such incident")
        return incident

    def _back(self, incident: Incident) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:privacy_incident_change", args=[incident.pk]))

    def send_test_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        incident = self._changeable(request, object_id)
        staff = request.user
        assert isinstance(staff, User)  # the staff site admits signed-in staff only
        try:
            breach.send_test(incident, staff)
        except OSError as exc:
            self.message_user(request, f"The test could not be sent: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"A test was sent to {staff.email} only.", messages.SUCCESS)
        return self._back(incident)

    def send_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        incident = self._changeable(request, object_id)
        if request.POST.get("confirm") != "yes":
            self.message_user(request, "Tick the box to confirm the sending.", messages.ERROR)
            return self._back(incident)
        try:
            added = breach.start_sending(incident)
        except breach.IncompleteAudience as exc:
            self.message_user(request, f"Nothing was sent: {exc}.", messages.ERROR)
            return self._back(incident)
        self.log_change(request, incident, f"Sending the notice: {added} recipients added.")
        self.message_user(
            request, f"Sending the notice: {added} recipients added to the queue.", messages.SUCCESS
        )
        return self._back(incident)

    def retry_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        incident = self._changeable(request, object_id)
        again = breach.retry_failed(incident)
        self.message_user(request, f"{again} failed notices queued again.", messages.SUCCESS)
        return self._back(incident)

    def csv_view(
        self, request: HttpRequest, object_id: Any
    ) -> HttpResponse | StreamingHttpResponse:
        incident = self.get_object(request, str(object_id))
        if incident is None or not self.has_view_permission(request, incident):
            raise Http404("No such incident")
        response = StreamingHttpResponse(
            _csv_lines(incident), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="breach-notices-{incident.pk}.csv"'
        return response


def _after(incident: Incident, sent_at: datetime | None) -> str:
    """How long after awareness a notice went out: the figure the 72 hours are judged by."""
    return hours_minutes(sent_at - incident.aware_at) if sent_at else ""


def _preview(incident: Incident) -> int | None:
    """How many the audience selects now; None if the audience is not set yet."""
    try:
        return breach.count_recipients(incident.audience)
    except breach.IncompleteAudience:
        return None


class _Line:
    def write(self, text: str) -> str:
        return text


def _csv_lines(incident: Incident) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(("email", "state", "sent_at", "bounced_at", "reason"))
    rows = BreachNotice.objects.filter(incident=incident).order_by("pk")
    fields = ("email", "state", "sent_at", "bounced_at", "error")
    for email, state, sent_at, bounced_at, error in rows.values_list(*fields).iterator(2000):
        reason = spreadsheet_safe(error)  # a remote server's words, or our error text
        yield writer.writerow(
            (spreadsheet_safe(email), state, _utc(sent_at), _utc(bounced_at), reason)
        )
