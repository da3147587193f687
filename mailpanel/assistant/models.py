"""What the assistant keeps: which key and model a user chose, their drafts, their usage."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from mailpanel.vault.models import Credential


class AssistantProfile(models.Model):
    """The NVIDIA credential and model id a user's assistant runs on, as last checked."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistant_profile"
    )
    # PROTECT: deleting the key must be a visible choice (the vault lists this as a usage).
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="assistant_profiles"
    )
    model_id = models.CharField(max_length=200)
    checked_at = models.DateTimeField()

    class Meta:
        verbose_name = "assistant setting"

    def __str__(self) -> str:
        return f"using {self.model_id}"


class DraftKind(models.TextChoices):
    SUBJECTS = "subjects", "Subject lines"
    PREHEADERS = "preheaders", "Preheaders"
    BODY = "body", "Body (text and HTML)"
    EMAIL = "email", "Complete email"
    REWRITE = "rewrite", "Rewrite of your text"
    PASTED = "pasted", "Your own text, checked"


class DraftState(models.TextChoices):
    PENDING = "pending", "Waiting to start"
    STREAMING = "streaming", "Being written"
    COMPLETE = "complete", "Complete"
    INCOMPLETE = "incomplete", "Incomplete"
    FAILED = "failed", "Failed"


class Draft(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts"
    )
    kind = models.CharField(max_length=16, choices=DraftKind.choices)
    state = models.CharField(max_length=16, choices=DraftState.choices)
    inputs = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    preheader = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    complete = models.BooleanField(default=False)
    # Why a draft is incomplete or failed, in the user's words.
    note = models.CharField(max_length=300, blank=True)
    lint = models.JSONField(default=dict, blank=True)
    model_id = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # True when NVIDIA sent no usage figures and the token counts are our estimate.
    usage_estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.subject or self.get_kind_display()

    @property
    def is_finished(self) -> bool:
        return self.state not in (DraftState.PENDING, DraftState.STREAMING)

    @property
    def score(self) -> int | None:
        value: Any = self.lint.get("score") if isinstance(self.lint, dict) else None
        return value if isinstance(value, int) else None


class AssistantUsage(models.Model):
    """Running totals of what the user's key was asked, shown to them on the assistant page."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistant_usage"
    )
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    # Requests whose token counts were estimated because the answer carried no usage.
    estimated_requests = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "assistant usage"

    def __str__(self) -> str:
        return f"{self.requests} requests"
