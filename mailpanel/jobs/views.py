"""Job pages: list, detail with a live log (server-sent events), cancel, self-test."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mailpanel.http import AuthedRequest
from mailpanel.jobs.actions import cancel_job, start_job
from mailpanel.jobs.models import Job, JobLogLine
from mailpanel.ownership import aget_owned_or_404, get_owned_or_404

STREAM_POLL_SECONDS = 0.25
STREAM_KEEPALIVE_SECONDS = 15.0
STREAM_MAX_SECONDS = 30 * 60
LINES_PER_BATCH = 500


@login_required
def job_list(request: AuthedRequest) -> HttpResponse:
    jobs = Job.objects.filter(owner=request.user).only(
        "id",
        "kind",
        "target",
        "params",  # the title says what the job was for
        "state",
        "progress",
        "created_at",
        "finished_at",
        "started_at",
    )
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    return render(request, "jobs/list.html", {"page": page})


@login_required
def job_detail(request: AuthedRequest, job_id: UUID) -> HttpResponse:
    job = get_owned_or_404(Job, request.user, pk=job_id)
    lines = list(job.log_lines.all())
    context = {
        "job": job,
        "lines": lines,
        "last_seq": lines[-1].seq if lines else 0,
    }
    return render(request, "jobs/detail.html", context)


@login_required
@require_POST
def job_cancel(request: AuthedRequest, job_id: UUID) -> HttpResponse:
    job = get_owned_or_404(Job, request.user, pk=job_id)
    if job.is_finished:
        messages.info(request, "This job has already finished.")
    else:
        cancel_job(job)
        messages.success(request, "Cancel requested: the job stops at its next safe point.")
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_POST
def start_selftest(request: AuthedRequest) -> HttpResponse:
    job = start_job(request.user, "selftest", target="this panel")
    return redirect("job_detail", job_id=job.pk)


@login_required
async def job_events(request: AuthedRequest, job_id: UUID) -> StreamingHttpResponse:
    user = await request.auser()
    job = await aget_owned_or_404(Job, user, pk=job_id)
    after = _int_or_zero(request.headers.get("Last-Event-ID") or request.GET.get("after"))
    response = StreamingHttpResponse(_event_stream(job.pk, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _int_or_zero(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def _sse(event: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


async def _event_stream(job_id: UUID, after: int) -> AsyncIterator[str]:
    started = last_sent = time.monotonic()
    last_state: tuple[str, int, str] | None = None
    while time.monotonic() - started < STREAM_MAX_SECONDS:
        batch = [
            line
            async for line in JobLogLine.objects.filter(job_id=job_id, seq__gt=after).order_by(
                "seq"
            )[:LINES_PER_BATCH]
        ]
        for line in batch:
            yield _sse("line", _line_data(line), line.seq)
            after = line.seq
        job = await Job.objects.aget(pk=job_id)
        state = (job.state, job.progress, job.status_text)
        if state != last_state:
            last_state = state
            yield _sse("state", _state_data(job))
        if batch or job.is_finished:
            last_sent = time.monotonic()
        if job.is_finished and len(batch) < LINES_PER_BATCH:
            yield _sse("end", {"state": job.state})
            return
        if time.monotonic() - last_sent > STREAM_KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keepalive\n\n"
        if not batch:
            await asyncio.sleep(STREAM_POLL_SECONDS)


def _line_data(line: JobLogLine) -> dict[str, object]:
    return {"seq": line.seq, "level": line.level, "text": line.text, "at": line.at.isoformat()}


def _state_data(job: Job) -> dict[str, object]:
    return {
        "state": job.state,
        "label": job.get_state_display(),
        "progress": job.progress,
        "status": job.status_text,
        "error": job.error,
    }
