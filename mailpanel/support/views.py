from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mailpanel.accounts.models import User
from mailpanel.activity.signins import client_ip
from mailpanel.http import AuthedRequest
from mailpanel.listing import Sort, list_page
from mailpanel.ownership import get_owned_or_404
from mailpanel.support import actions
from mailpanel.support.forms import ContactForm, ReplyForm
from mailpanel.support.models import Thread

SENT_KEY = "support_sent_reference"
THREAD_SORTS = {
    "updated": Sort("Recently updated", ["-updated_at", "-created_at"]),
    "newest": Sort("Newest first", ["-created_at"]),
    "oldest": Sort("Oldest first", ["created_at"]),
}


def contact(request: HttpRequest) -> HttpResponse:
    user = request.user if isinstance(request.user, User) else None
    initial = {"email": user.email} if user is not None else {}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            thread = actions.submit_contact(
                email=data["email"],
                subject=data["subject"],
                body=data["message"],
                owner=user,
                ip=client_ip(request),
            )
        except actions.ContactRefused as exc:
            return contact_page(request, form, refused=str(exc))
        # Redirected, so reloading the page does not send the message twice.
        request.session[SENT_KEY] = thread.reference
        return redirect("support_sent")
    return contact_page(request, form)


def contact_page(request: HttpRequest, form: ContactForm, refused: str = "") -> HttpResponse:
    context = {"form": form, "refused": refused, "support_email": settings.SUPPORT_EMAIL}
    status = 429 if refused else 400 if form.errors else 200
    return render(request, "support/contact.html", context, status=status)


def sent(request: HttpRequest) -> HttpResponse:
    reference = request.session.get(SENT_KEY)
    if not reference:
        return redirect("support_contact")
    owned = None
    if request.user.is_authenticated:
        owned = Thread.objects.filter(reference=reference, owner_id=request.user.pk).first()
    return render(request, "support/sent.html", {"reference": reference, "thread": owned})


@login_required
def thread_list(request: AuthedRequest) -> HttpResponse:
    threads = Thread.objects.filter(owner=request.user)
    listing = list_page(request, threads, THREAD_SORTS, field="subject")
    return render(request, "support/threads.html", {"listing": listing})


@login_required
def thread_detail(request: AuthedRequest, thread_id: UUID) -> HttpResponse:
    thread = get_owned_or_404(Thread, request.user, pk=thread_id)
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.add_user_reply(thread, request.user, form.cleaned_data["message"])
        messages.success(request, "Your reply was added; support sees it now.")
        return redirect("support_thread", thread_id=thread.pk)
    context = {
        "thread": thread,
        "thread_messages": thread.messages.filter(automatic=False),
        "form": form,
    }
    return render(request, "support/thread.html", context, status=400 if form.errors else 200)
