"""Account → Your data: what the panel holds, export, pause, delete. No JavaScript needed."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mailpanel.billing.checkout import subscription_to_cancel
from mailpanel.http import AuthedRequest
from mailpanel.ownership import get_owned_or_404
from mailpanel.privacy import actions, deletion, exports
from mailpanel.privacy.forms import DeleteAccountForm, KeysDownloadForm
from mailpanel.privacy.models import DataExport, ExportState
from mailpanel.privacy.registry import Category, counts_of
from mailpanel.privacy.retention import PERIODS, days


@login_required
def your_data(request: AuthedRequest) -> HttpResponse:
    user = request.user
    context = {
        "counts": counts_of(user),
        "periods": [(p, days(p.key)) for p in PERIODS],
        "exports": DataExport.objects.filter(owner=user)[:5],
        "next_export_at": exports.next_export_at(user),
        "paused": user.processing_paused,
    }
    return render(request, "privacy/your_data.html", context)


@login_required
@require_POST
def export_request(request: AuthedRequest) -> HttpResponse:
    try:
        export = exports.request_export(request.user)
    except exports.ExportTooSoon as exc:
        messages.error(
            request,
            "You can ask for one export a day: the next is possible at "
            f"{exc.possible_at:%Y-%m-%d %H:%M} UTC.",
        )
        return redirect("privacy_your_data")
    messages.success(request, "Your export is being prepared. We email you when it is ready.")
    return redirect("privacy_export", export_id=export.pk)


def _owned_export(request: AuthedRequest, export_id: UUID) -> DataExport:
    return get_owned_or_404(DataExport.objects.select_related("job"), request.user, pk=export_id)


def _gone(request: HttpRequest, export: DataExport) -> HttpResponse:
    return render(request, "privacy/export_gone.html", {"export": export}, status=410)


@login_required
def export_detail(request: AuthedRequest, export_id: UUID) -> HttpResponse:
    export = _owned_export(request, export_id)
    if export.is_expired:
        return _gone(request, export)
    context = {"export": export, "keys_form": KeysDownloadForm(request.user)}
    return render(request, "privacy/export.html", context)


@login_required
def export_download(request: AuthedRequest, export_id: UUID) -> HttpResponseBase:
    export = _owned_export(request, export_id)
    if export.is_expired:
        return _gone(request, export)
    if export.state != ExportState.READY:
        return redirect("privacy_export", export_id=export.pk)
    handle = exports.export_path(export).open("rb")
    return FileResponse(handle, as_attachment=True, filename=export.file_name)


@login_required
@require_POST
def export_download_with_keys(request: AuthedRequest, export_id: UUID) -> HttpResponseBase:
    export = _owned_export(request, export_id)
    if export.is_expired:
        return _gone(request, export)
    form = KeysDownloadForm(request.user, request.POST)
    if export.state != ExportState.READY or not form.is_valid():
        return render(request, "privacy/export.html", {"export": export, "keys_form": form})
    handle = exports.write_with_keys(export, request.user, form.cleaned_data["passphrase"])
    name = export.file_name.removesuffix(".zip") + "-with-keys.zip"
    return FileResponse(handle, as_attachment=True, filename=name)


@login_required
@require_POST
def pause(request: AuthedRequest) -> HttpResponse:
    actions.pause_processing(request.user)
    messages.success(request, "Processing is paused: the panel starts no job until you resume.")
    return redirect("privacy_your_data")


@login_required
@require_POST
def resume(request: AuthedRequest) -> HttpResponse:
    actions.resume_processing(request.user)
    messages.success(request, "Processing is resumed.")
    return redirect("privacy_your_data")


@login_required
def delete_account(request: AuthedRequest) -> HttpResponse:
    user = request.user
    form = DeleteAccountForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            deletion.request_deletion(user)
        except deletion.DeletionDeferred as exc:
            form.add_error(None, str(exc))
        else:
            logout(request)
            return redirect("privacy_deleted")
    counts = [(c, n) for c, n in counts_of(user) if n]
    context = {
        "form": form,
        "counts": [(c, n) for c, n in counts if not _kept(c)],
        "kept": [(c, n, _kept(c)) for c, n in counts if _kept(c)],
        "subscription": subscription_to_cancel(user),
        "left": deletion.left_in_place(user),
        "log_days": days("application_logs"),
    }
    return render(request, "privacy/delete.html", context)


def _kept(category: Category) -> str:
    """Why the category outlives the account ("" when it goes with it)."""
    return next((h.kept_after_deletion for h in category.holdings if h.kept_after_deletion), "")


def deleted(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/deleted.html")
