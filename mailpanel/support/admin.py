"""Staff read a thread's messages (read-only) and reply by email from its page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from mailpanel.accounts.models import User
from mailpanel.support import actions, outgoing
from mailpanel.support.forms import StaffReplyForm
from mailpanel.support.models import Delivery, Direction, SupportMessage, Thread


class SupportMessageInline(admin.StackedInline):  # type: ignore[type-arg]
    model = SupportMessage
    verbose_name_plural = "Messages, oldest first"
    # The text only: a received HTML body is kept sanitised but never rendered here.
    fields = (
        ("created_at", "direction", "automatic"),
        ("from_address", "author"),
        "body",
        ("delivery", "delivery_error", "sent_at"),
        "message_id",
    )
    readonly_fields = (
        "created_at",
        "direction",
        "automatic",
        "from_address",
        "author",
        "body",
        "delivery",
        "delivery_error",
        "sent_at",
        "message_id",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("reference", "email", "subject", "state", "updated_at")
    list_filter = ("state",)
    search_fields = ("reference", "email", "subject")
    ordering = ("-updated_at",)
    fields = ("reference", "subject", "email", "owner", "state", "created_at", "updated_at")
    readonly_fields = ("reference", "subject", "email", "owner", "created_at", "updated_at")
    inlines = (SupportMessageInline,)
    actions = ("send_failed_again",)
    change_form_template = "support/admin/thread_change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # threads come from the form and from mail

    def get_urls(self) -> list[URLPattern]:
        reply = path(
            "<path:object_id>/reply/",
            self.admin_site.admin_view(self.reply_view),
            name="support_thread_reply",
        )
        return [reply, *super().get_urls()]

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        thread = self.get_object(request, unquote(object_id))
        if thread is None:
            raise Http404("No such thread")
        if not self.has_change_permission(request, thread):
            raise PermissionDenied
        change_url = reverse("admin:support_thread_change", args=[thread.pk])
        if not has_address(thread):
            messages.error(request, "This thread has no address to answer to.")
            return HttpResponseRedirect(change_url)
        form = StaffReplyForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            staff = request.user
            assert isinstance(staff, User)  # the staff site admits signed-in staff only
            reply = actions.reply_as_staff(thread, staff, form.cleaned_data["message"])
            say_delivery(request, thread, reply)
            return HttpResponseRedirect(change_url)
        return TemplateResponse(
            request, "support/admin/reply.html", self.reply_context(request, thread, form)
        )

    def reply_context(
        self, request: HttpRequest, thread: Thread, form: StaffReplyForm
    ) -> dict[str, Any]:
        last_in = thread.messages.filter(direction=Direction.IN).order_by("-id").first()
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": thread,
            "title": f"Reply to {thread.reference}",
            "thread": thread,
            "form": form,
            "subject": f"Re: [{thread.reference}] {thread.subject}",
            "last_incoming": last_in,
        }

    @admin.action(description="Send failed replies again", permissions=("change",))
    def send_failed_again(self, request: HttpRequest, queryset: QuerySet[Thread]) -> None:
        failed = SupportMessage.objects.filter(
            thread__in=queryset, direction=Direction.OUT, delivery=Delivery.FAILED
        )
        results = [actions.send_again(message) for message in failed]
        sent = sum(1 for m in results if m.delivery == Delivery.SENT)
        self.message_user(
            request, f"{sent} of {len(results)} failed message(s) sent.", messages.INFO
        )


def has_address(thread: Thread) -> bool:
    try:
        validate_email(thread.email)
    except ValidationError:
        return False
    return True


def say_delivery(request: HttpRequest, thread: Thread, reply: SupportMessage) -> None:
    subject = outgoing.subject_of(reply)
    if reply.delivery == Delivery.SENT:
        messages.success(request, f"Reply sent to {thread.email}: “{subject}”.")
    elif reply.delivery == Delivery.FAILED:
        messages.error(
            request,
            f"The reply is stored but could not be sent: {reply.delivery_error}. "
            "Use “Send failed replies again” from the list to retry.",
        )
    else:
        messages.info(request, "The reply is stored and will be sent.")
