"""The public form: report an account of someone under 18. No account needed."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mailpanel.activity.signins import client_ip
from mailpanel.privacy import minors
from mailpanel.privacy.request_forms import MinorReportForm


def report_minor(request: HttpRequest) -> HttpResponse:
    form = MinorReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            minors.report_from_form(
                data["reported_email"], data["reporter_email"], data["details"], client_ip(request)
            )
        except minors.ReportRefused as exc:
            return _page(request, form, refused=str(exc))
        # Redirected, so reloading the page does not send the report twice.
        return redirect("privacy_minor_report_sent")
    return _page(request, form)


def _page(request: HttpRequest, form: MinorReportForm, refused: str = "") -> HttpResponse:
    context = {"form": form, "refused": refused, "privacy_email": settings.PRIVACY_EMAIL}
    status = 429 if refused else 400 if form.errors else 200
    return render(request, "privacy/minor_report.html", context, status=status)


def report_minor_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/minor_report_sent.html")
