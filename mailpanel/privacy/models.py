"""Privacy policy versions and who accepted which, when."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class PolicyVersion(models.Model):
    version = models.CharField(max_length=32, unique=True)
    published_at = models.DateTimeField()
    summary = models.TextField(blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["-published_at"]

    def __str__(self) -> str:
        return self.version

    @classmethod
    def current(cls) -> PolicyVersion | None:
        return cls.objects.filter(published_at__lte=timezone.now()).first()


class PolicyAcceptance(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_acceptances"
    )
    policy = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT)
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "policy"], name="one_acceptance_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepted {self.policy_id}"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Being prepared"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired and deleted"


class DataExport(models.Model):
    """One export the user asked for: a ZIP in the data folder, theirs alone for 7 days."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports"
    )
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=ExportState.choices, default=ExportState.QUEUED)
    encrypted = models.BooleanField(default=False)  # holds the generated keys, AES-256 ZIP
    file_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export of {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_expired(self) -> bool:
        return self.state == ExportState.EXPIRED or (
            self.expires_at is not None and self.expires_at <= timezone.now()
        )


class PurgeRun(models.Model):
    """What one retention purge removed: counts per category, never content."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    removed = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Purge {self.started_at:%Y-%m-%d %H:%M}"
