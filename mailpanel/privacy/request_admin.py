"""The staff queue of data requests: sorted by due date, fulfilled from the request's page.

Nothing is edited by hand: each button is one action of ``request_fulfilment`` that checks
the state, writes the audit trail and mails the requester. The trail is read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from mailpanel.accounts.models import User
from mailpanel.privacy import request_fulfilment as fulfil
from mailpanel.privacy.exports import ExportTooSoon
from mailpanel.privacy.models import DataRequest, RequestEvent, RequestState
from mailpanel.privacy.request_clock import business_due_for, days_left
from mailpanel.privacy.request_forms import RefuseForm, ReplyForm, VerifyIdentityForm

CSS = {"all": ("privacy/request_admin.css",)}


@dataclass(frozen=True)
class ActionPage:
    """A staff button with a page of its own: a form (maybe empty), then one action."""

    title: str
    submit: str
    form: type[forms.Form]
    run: Callable[[Any, User, dict[str, Any]], str]  # the object, staff, data → a message
    intro: str = ""
    danger: bool = False


class NoFields(forms.Form):
    pass


@dataclass(frozen=True)
class Button:
    label: str
    url: str
    one_click: bool  # posted from the object's page; otherwise a link to its own page
    danger: bool


def button(page: ActionPage, url_name: str, pk: Any) -> Button:
    one_click = page.form is NoFields and not page.danger
    return Button(page.title, reverse(url_name, args=[pk]), one_click, page.danger)


def staff_of(request: HttpRequest) -> User:
    staff = request.user
    assert isinstance(staff, User)  # the staff site admits signed-in staff only
    return staff


def action_page_view(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    object_id: str,
    page: ActionPage,
    refusals: tuple[type[Exception], ...],
) -> HttpResponse:
    """GET: the page; POST: run the action and go back to the object, with its message."""
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None or not model_admin.has_change_permission(request, obj):
        raise Http404("Not found")
    back = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    form = page.form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            done = page.run(obj, staff_of(request), form.cleaned_data)
        except refusals as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
        else:
            model_admin.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": obj,
        "title": f"{page.title}: {obj}",
        "page": page,
        "form": form,
        "back": back,
    }
    status = 400 if form.errors else 200
    return TemplateResponse(request, "privacy/requests/admin_action.html", context, status=status)


class RequestEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RequestEvent
    verbose_name_plural = "Audit trail"
    fields = ("at", "actor_label", "action", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _export(req: DataRequest, staff: User, data: dict[str, Any]) -> str:
    try:
        fulfil.fulfil_export(req, staff)
    except ExportTooSoon as exc:
        raise fulfil.NotFulfillable(
            "The account already had an export in the last day; the next is possible at "
            f"{exc.possible_at:%Y-%m-%d %H:%M} UTC. The request stays open."
        ) from exc
    return f"{req.reference} fulfilled: the export is being prepared; its link goes by mail."


def _delete(req: DataRequest, staff: User, data: dict[str, Any]) -> str:
    fulfil.fulfil_deletion(req, staff)
    return f"{req.reference} fulfilled: the account is deleted and the requester told."


def _other(req: DataRequest, staff: User, data: dict[str, Any]) -> str:
    fulfil.fulfil_other(req, staff, data["text"])
    return f"{req.reference} fulfilled: the reply is on its way."


def _refuse(req: DataRequest, staff: User, data: dict[str, Any]) -> str:
    fulfil.refuse(req, staff, data["text"])
    return f"{req.reference} refused: the reason is on its way."


def _verify(req: DataRequest, staff: User, data: dict[str, Any]) -> str:
    fulfil.verify_identity(req, staff, data["note"], data["account_email"])
    return f"{req.reference} is open: identity verified by staff."


PAGES: dict[str, ActionPage] = {
    "fulfil-export": ActionPage(
        "Fulfil: export",
        "Start the export and mark fulfilled",
        NoFields,
        _export,
        "Starts the export of every category of the account; the download link is mailed to "
        "the account's address when it is ready, and the requester is told now.",
    ),
    "fulfil-deletion": ActionPage(
        "Fulfil: delete the account",
        "Delete the account now",
        NoFields,
        _delete,
        "Deletes the account as its owner would: its secrets are destroyed at once and every "
        "record removed. This cannot be undone. The request and its trail stay.",
        danger=True,
    ),
    "fulfil-other": ActionPage(
        "Mark fulfilled (other)", "Send and mark fulfilled", ReplyForm, _other
    ),
    "refuse": ActionPage("Refuse", "Send the reason and refuse", RefuseForm, _refuse),
    "verify-identity": ActionPage(
        "Identity verified by staff",
        "Mark verified: the request opens",
        VerifyIdentityForm,
        _verify,
        "Only when you have checked who is asking (a call, a signed letter, the account's "
        "own confirmation). The note is kept in the audit trail.",
    ),
}


@admin.register(DataRequest)
class DataRequestAdmin(admin.ModelAdmin[DataRequest]):
    list_display = ("reference", "kind", "email", "state", "received_at", "due_at", "clock")
    list_filter = ("state", "kind", "channel")
    search_fields = ("reference", "email")
    ordering = ("due_at",)
    fields = (
        ("reference", "kind", "state"),
        ("email", "user", "channel"),
        ("received_at", "due_at", "clock", "business_due"),
        ("confirmed_at", "closed_at"),
        ("reminded_day20_at", "reminded_day27_at"),
        "details",
        "reply",
    )
    readonly_fields = (
        "reference",
        "kind",
        "state",
        "email",
        "user",
        "channel",
        "received_at",
        "due_at",
        "clock",
        "business_due",
        "confirmed_at",
        "closed_at",
        "reminded_day20_at",
        "reminded_day27_at",
        "details",
        "reply",
    )
    inlines = (RequestEventInline,)
    change_form_template = "privacy/requests/admin_change_form.html"

    class Media:
        css = CSS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests come from their requesters, in the panel or by mail

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the proof that a request was answered: retention removes it

    @admin.display(description="Days left")
    def clock(self, obj: DataRequest) -> str:
        if obj.closed_at is not None:
            return "closed"
        left = days_left(obj)
        if left < 0:
            n = -left
            return format_html(
                '<strong class="request-overdue">overdue by {} day{}</strong>',
                n,
                "" if n == 1 else "s",
            )
        return f"{left} day{'' if left == 1 else 's'} left"

    @admin.display(description="30 business days would be")
    def business_due(self, obj: DataRequest) -> str:
        day = business_due_for(obj.received_at)
        return f"{day:%Y-%m-%d} (Mon-Fri, no holiday calendar; the earlier due date applies)"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                f"<path:object_id>/{slug}/",
                self.admin_site.admin_view(self._page_view(slug)),
                name=f"privacy_datarequest_{slug.replace('-', '_')}",
            )
            for slug in PAGES
        ]
        return [*own, *super().get_urls()]

    def _page_view(self, slug: str) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            refusals = (fulfil.NotFulfillable,)
            return action_page_view(self, request, object_id, PAGES[slug], refusals)

        return view

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        req = self.get_object(request, unquote(object_id))
        if req is not None:
            extra_context = {**(extra_context or {}), "buttons": self.buttons(req)}
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def buttons(req: DataRequest) -> list[Button]:
        """What staff may do with this request now."""
        if req.closed_at is not None:
            return []
        slugs: list[str] = []
        if req.state == RequestState.IDENTITY_NOT_VERIFIED:
            slugs.append("verify-identity")
        if req.state == RequestState.OPEN:
            if req.user_id is not None:
                slugs += ["fulfil-export", "fulfil-deletion"]
            slugs.append("fulfil-other")
        slugs.append("refuse")
        return [
            button(PAGES[s], f"admin:privacy_datarequest_{s.replace('-', '_')}", req.pk)
            for s in slugs
        ]
