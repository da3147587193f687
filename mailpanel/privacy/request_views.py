"""Account → Your data → requests: make one, follow it, confirm one made by mail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import dateformat

from mailpanel.http import AuthedRequest
from mailpanel.privacy import requests
from mailpanel.privacy.models import DataRequest, RequestEvent
from mailpanel.privacy.request_clock import business_due_for, days_left
from mailpanel.privacy.request_forms import DataRequestForm


def own_request(request: AuthedRequest, request_id: UUID) -> DataRequest:
    """The signed-in user's request, else 404 (another's, or none)."""
    try:
        return DataRequest.objects.get(pk=request_id, user=request.user)
    except (ObjectDoesNotExist, ValueError, ValidationError) as exc:
        raise Http404("Not found") from exc


@dataclass(frozen=True)
class TrailLine:
    at: datetime
    who: str
    action: str
    note: str


def trail(req: DataRequest) -> list[TrailLine]:
    """The audit trail as the requester sees it: staff by role, not by name."""
    events = RequestEvent.objects.filter(request=req).order_by("at", "id")
    return [
        TrailLine(
            e.at, "staff" if e.actor_label.startswith("staff") else e.actor_label, e.action, e.note
        )
        for e in events
    ]


@login_required
def request_new(request: AuthedRequest) -> HttpResponse:
    form = DataRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        req = requests.file_in_panel(request.user, data["kind"], data["details"])
        due = dateformat.format(req.due_at, "j F Y")
        messages.success(
            request,
            f"Your request {req.reference} is received. We answer by {due} at the latest; "
            "an acknowledgement is on its way by email.",
        )
        return redirect("privacy_request", request_id=req.pk)
    status = 400 if form.errors else 200
    return render(request, "privacy/requests/new.html", {"form": form}, status=status)


@login_required
def request_detail(request: AuthedRequest, request_id: UUID) -> HttpResponse:
    req = own_request(request, request_id)
    context = {
        "req": req,
        "business_due": business_due_for(req.received_at),
        "days_left": days_left(req),
        "trail": trail(req),
    }
    return render(request, "privacy/requests/detail.html", context)


@login_required
def request_confirm(request: AuthedRequest, token: str) -> HttpResponse:
    """Opened from the acknowledgement: signed in as the account, confirm or disown."""
    try:
        req = requests.pending_confirmation(token, request.user)
        if request.method != "POST":
            return render(request, "privacy/requests/confirm.html", {"req": req})
        decision = request.POST.get("decision")
        if decision == "confirm":
            requests.confirm(token, request.user)
            messages.success(request, f"Confirmed: we are working on {req.reference}.")
        elif decision == "disown":
            requests.disown(token, request.user)
            messages.success(request, f"Thank you: {req.reference} is refused; nothing was done.")
        else:
            return render(request, "privacy/requests/confirm.html", {"req": req}, status=400)
    except requests.ConfirmationRefused as exc:
        context = {"message": str(exc)}
        return render(request, "privacy/requests/refused.html", context, status=exc.status)
    return redirect("privacy_request", request_id=req.pk)
