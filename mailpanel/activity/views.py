"""The Activity page: the owner's sign-ins, actions and jobs, and the same rows as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from mailpanel.activity.export import csv_lines
from mailpanel.activity.forms import ActivityFilter
from mailpanel.activity.timeline import Row, entry_of, timeline
from mailpanel.http import AuthedRequest

PER_PAGE = 50
CSV_CHUNK = 2000


@dataclass(frozen=True)
class ActivityListing:
    """A page of the timeline and its filters, the shape ``_list_pager.html`` reads."""

    page: Page[Row]
    params: QueryDict


def _filtered(request: AuthedRequest) -> tuple[ActivityFilter, QuerySet[Any, Row] | None]:
    """The filter form and the rows it selects; no rows when a filter is wrong, so a
    mistyped date never shows everything as if it had matched."""
    form = ActivityFilter(request.GET)
    if not form.is_valid():
        return form, None
    start, end = form.window
    return form, timeline(request.user, form.cleaned_data["kind"], start, end)


def _filter_params(form: ActivityFilter) -> QueryDict:
    params = QueryDict(mutable=True)
    for name in ("kind", "from", "to"):
        if value := form.data.get(name, ""):
            params[name] = value
    return params


@login_required
@require_safe
def activity_list(request: AuthedRequest) -> HttpResponse:
    form, rows = _filtered(request)
    context: dict[str, Any] = {"form": form, "listing": None, "entries": []}
    if rows is not None:
        page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
        context["listing"] = ActivityListing(page=page, params=_filter_params(form))
        context["entries"] = [entry_of(row) for row in page.object_list]
    return render(request, "activity/list.html", context)


@login_required
@require_safe
def activity_csv(request: AuthedRequest) -> HttpResponse | StreamingHttpResponse:
    form, rows = _filtered(request)
    if rows is None:
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        return HttpResponse(
            f"The filters are not valid: {errors}",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    entries = (entry_of(row) for row in rows.iterator(chunk_size=CSV_CHUNK))
    response = StreamingHttpResponse(csv_lines(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="activity.csv"'
    return response
