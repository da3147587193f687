"""What a running job sees: a redacting log writer, progress and cancellation."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db.models import Max
from django.utils import timezone

from mailpanel.jobs.models import Job, JobLogLine, LogLevel
from mailpanel.vault.redaction import redact

MAX_LINE_CHARS = 4000
CANCEL_POLL_SECONDS = 0.5


class JobCancelled(Exception):
    """The owner asked to stop; raised at the next safe point."""


class JobFailed(Exception):
    """A failure with a message meant for the user (it is redacted before it is shown)."""


class JobContext:
    def __init__(self, job: Job, secrets: Iterable[str] = ()) -> None:
        self.job = job
        self._secrets = list(secrets)
        last = JobLogLine.objects.filter(job=job).aggregate(m=Max("seq"))["m"]
        self._seq = last or 0
        self._cancel_checked = 0.0

    @property
    def params(self) -> dict[str, object]:
        return dict(self.job.params)

    def add_secrets(self, *values: str) -> None:
        """Values this job handles that must never appear in its log."""
        self._secrets.extend(v for v in values if v)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def log(self, text: str, level: str = LogLevel.INFO) -> None:
        self.check_cancelled()
        clean = self.redact(str(text))
        if len(clean) > MAX_LINE_CHARS:
            clean = clean[:MAX_LINE_CHARS] + " [...]"
        self._seq += 1
        JobLogLine.objects.create(job_id=self.job.pk, seq=self._seq, level=level, text=clean)

    def progress(self, percent: int, status: str = "") -> None:
        percent = max(0, min(100, int(percent)))
        fields: dict[str, object] = {"progress": percent, "heartbeat_at": timezone.now()}
        if status:
            fields["status_text"] = self.redact(status)[:255]
        Job.objects.filter(pk=self.job.pk).update(**fields)

    def check_cancelled(self) -> None:
        now = time.monotonic()
        if now - self._cancel_checked < CANCEL_POLL_SECONDS:
            return
        self._cancel_checked = now
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """Log a step's start and its outcome with the time it took."""
        self.log(f"▶ {title}")
        started = time.monotonic()
        try:
            yield
        except JobCancelled:
            raise
        except Exception:
            self.log(f"✗ {title} failed after {time.monotonic() - started:.2f} s", LogLevel.ERROR)
            raise
        self.log(f"✓ {title} ({time.monotonic() - started:.2f} s)")
