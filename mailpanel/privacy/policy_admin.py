"""The staff pages of the privacy policy: write a version, preview it, send its notice.

A version is frozen (every field read-only, no deletion) once it is in force or its notice
went out: what people accepted, and what they were mailed, is never edited afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from mailpanel.accounts.models import User
from mailpanel.privacy.markdown import render_markdown
from mailpanel.privacy.models import NoticeState, PolicyVersion
from mailpanel.privacy.policy import (
    STRANDED_AFTER,
    NoticeRefused,
    diff_lines,
    is_effective,
    release_stranded,
    start_notice,
    valid_version_id,
)

# "Now" typed into the form is a few minutes old when it is saved.
EFFECTIVE_GRACE = timedelta(minutes=5)
WRITING = ("version", "published_at", "material", "summary", "text")
RECORD = ("notice_progress", "notice_started_at", "created_by", "created_at")


class PolicyVersionForm(forms.ModelForm[PolicyVersion]):
    class Meta:
        model = PolicyVersion
        fields = WRITING
        labels = {"version": "Version id", "published_at": "Effective date"}
        help_texts = {
            "version": "Letters, digits, dots and dashes, e.g. 2027-01-15. It is in the URLs.",
            "published_at": "When it takes effect: now or later. A material change needs a "
            "notice period, so give people time to read it.",
            "summary": "What changed, in a few sentences: the notice mail and banner show it.",
            "text": "Markdown: # headings, paragraphs, - lists, **bold**, [links](https://…).",
            "material": "Mailed to every active user and bannered until they acknowledge it.",
        }
        widgets = {"text": forms.Textarea(attrs={"rows": 30, "cols": 100})}

    def clean_version(self) -> str:
        version = str(self.cleaned_data["version"]).strip()
        if not valid_version_id(version):
            raise forms.ValidationError("Use letters, digits, dots, dashes and underscores only.")
        return version

    def clean_published_at(self) -> Any:
        effective = self.cleaned_data["published_at"]
        if effective < timezone.now() - EFFECTIVE_GRACE:
            raise forms.ValidationError("The effective date must be now or in the future.")
        same = PolicyVersion.objects.filter(published_at=effective).exclude(pk=self.instance.pk)
        if same.exists():
            raise forms.ValidationError("Another version takes effect at exactly that moment.")
        return effective


def frozen(obj: PolicyVersion | None) -> bool:
    return obj is not None and (is_effective(obj) or obj.notice_started_at is not None)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin[PolicyVersion]):
    form = PolicyVersionForm
    change_form_template = "privacy/policy/admin_change_form.html"
    list_display = ("version", "published_at", "material", "in_force", "notice_progress")
    list_filter = ("material",)
    search_fields = ("version", "summary")
    actions = ("send_notice", "release_stranded")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyVersion]:
        stranded_notice = Q(
            notices__state__in=(NoticeState.QUEUED, NoticeState.FAILED),
            notices__claimed_at__lt=timezone.now() - STRANDED_AFTER,
        ) & ~Q(notices__message_id="")
        return (
            super()
            .get_queryset(request)
            .annotate(
                notices_total=Count("notices"),
                notices_sent=Count("notices", filter=Q(notices__state=NoticeState.SENT)),
                notices_failed=Count("notices", filter=Q(notices__state=NoticeState.FAILED)),
                notices_bounced=Count("notices", filter=Q(notices__state=NoticeState.BOUNCED)),
                notices_stranded=Count("notices", filter=stranded_notice),
                notices_acknowledged=Count(
                    "notices", filter=Q(notices__acknowledged_at__isnull=False)
                ),
            )
        )

    def get_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        return WRITING if obj is None else (*WRITING, "rendered", *RECORD)

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        if obj is None:
            return ()
        if frozen(obj):
            return (*WRITING, "rendered", *RECORD)
        return ("version", "rendered", *RECORD)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if frozen(obj):
            kwargs["form"] = forms.ModelForm  # nothing left to edit
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not frozen(obj) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        if not change and isinstance(request.user, User):
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def view_on_site(self, obj: PolicyVersion) -> str:
        return reverse("privacy_policy_version", args=[obj.version])

    @admin.display(description="In force", boolean=True)
    def in_force(self, obj: PolicyVersion) -> bool:
        return is_effective(obj)

    @admin.display(description="Notice")
    def notice_progress(self, obj: PolicyVersion) -> str:
        if obj.notice_started_at is None:
            return "not sent" if obj.material else "none (not material)"
        names = ("total", "sent", "failed", "bounced", "stranded", "acknowledged")
        total, sent, failed, bounced, stranded, acknowledged = (
            getattr(obj, f"notices_{name}", None) for name in names
        )
        progress = f"{sent} of {total} mailed, {failed} failed, {bounced} bounced"
        if stranded:
            progress += f", {stranded} stranded by a stopped worker"
        return f"{progress}, {acknowledged} acknowledged"

    @admin.display(description="As the public page shows it")
    def rendered(self, obj: PolicyVersion) -> SafeString:
        return render_markdown(obj.text)

    @admin.action(description="Send the notice", permissions=["change"])
    def send_notice(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for policy in queryset:
            try:
                created = start_notice(policy)
            except NoticeRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.log_change(request, policy, f"Sent the notice: {created} new recipients.")
            self.message_user(
                request,
                f"{policy.version}: {created} new notices; the mailing runs in the background "
                "(queued and failed notices are sent again).",
                messages.SUCCESS,
            )

    @admin.action(
        description="Send notices stranded by a stopped worker again (each may arrive twice)",
        permissions=["change"],
    )
    def release_stranded(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for policy in queryset:
            released = release_stranded(policy)
            if released:
                self.log_change(request, policy, f"Released {released} stranded notices.")
            self.message_user(
                request,
                f"{policy.version}: {released} stranded notices released to be sent again.",
                messages.SUCCESS if released else messages.INFO,
            )

    # --- the preview --------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        preview = self.admin_site.admin_view(require_POST(self.preview_view))
        own = [path("preview/", preview, name="privacy_policyversion_preview")]
        return own + super().get_urls()

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The text being written, as the public page will show it, and its diff with the
        version in force; nothing is saved."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            return HttpResponse("Not allowed", status=403)
        text = request.POST.get("text", "")
        current = PolicyVersion.current()
        context = {
            **self.admin_site.each_context(request),
            "title": "Preview of the policy",
            "opts": self.opts,
            "version": request.POST.get("version", ""),
            "summary": request.POST.get("summary", ""),
            "rendered": render_markdown(text),
            "current": current,
            "lines": diff_lines(current.text, text) if current else [],
        }
        return render(request, "privacy/policy/admin_preview.html", context)
