"""A Job is any action on the outside world: queued, logged line by line, cancellable."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from mailpanel.jobs.registry import title_of


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True)
    # Ids and plain values only: a secret never rides in a job's parameters.
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    status_text = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["state", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target}".strip()

    @property
    def title(self) -> str:
        """What the job does, for people: "Provision the mail stack", "Sign mail for x.test"."""
        return title_of(self.kind, self.params)

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or self.heartbeat_at or self.started_at
        return (end - self.started_at).total_seconds()


class LogLevel(models.TextChoices):
    INFO = "info", "Info"
    COMMAND = "command", "Command"
    CHANGED = "changed", "Changed"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class JobLogLine(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=16, choices=LogLevel.choices, default=LogLevel.INFO)
    text = models.TextField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="job_log_seq_unique")]

    def __str__(self) -> str:
        return f"{self.seq}: {self.text[:60]}"
