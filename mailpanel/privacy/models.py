"""Privacy policy versions and who accepted which, when."""

from __future__ import annotations

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
