"""DNS provider accounts, the zone each sending domain lives in, and reviewed plans."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from mailpanel.domains.models import SendingDomain
from mailpanel.names import domain_to_unicode
from mailpanel.vault.models import Credential

PROVIDER_CHOICES = [
    ("cloudflare", "Cloudflare"),
    ("namecom", "Name.com"),
    ("openprovider", "OpenProvider"),
]


class DnsAccount(models.Model):
    """A provider account the panel may write to, through one credential of the vault."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dns_accounts"
    )
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="dns_accounts"
    )
    label = models.CharField(max_length=100)
    provider = models.CharField(max_length=16, choices=PROVIDER_CHOICES)
    verified_at = models.DateTimeField(null=True, blank=True)
    # [{"id": ..., "name": ...}] as the last connection test listed them (A-labels).
    zones = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "label"], name="dns_account_label_unique")
        ]

    def __str__(self) -> str:
        return self.label

    def zone_named(self, name: str) -> dict[str, str] | None:
        return next((z for z in self.zones if z.get("name") == name), None)


class DomainZone(models.Model):
    """Where a sending domain's records are published: one zone of one account."""

    domain = models.OneToOneField(
        SendingDomain, on_delete=models.CASCADE, related_name="dns_zone", primary_key=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dns_zones"
    )
    account = models.ForeignKey(DnsAccount, on_delete=models.PROTECT, related_name="links")
    zone_id = models.CharField(max_length=100)
    zone_name = models.CharField(max_length=253, help_text="A-label form")
    # desired.Published.to_json() of the last apply: the only records and terms the panel
    # may take back (SPF terms, report addresses, a former mail host's addresses).
    published = models.JSONField(default=dict, blank=True)
    linked_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.domain_id} in {self.zone_name}"

    @property
    def zone_display(self) -> str:
        return domain_to_unicode(self.zone_name)


class PlanState(models.TextChoices):
    PLANNING = "planning", "Reading the zone"
    PLANNED = "planned", "Ready to apply"
    REFUSED = "refused", "Refused"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded: the zone changed"


class DnsPlan(models.Model):
    """Creates, updates and deletes computed against the live zone, shown before applying."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dns_plans"
    )
    domain = models.ForeignKey(SendingDomain, on_delete=models.CASCADE, related_name="dns_plans")
    zone_name = models.CharField(max_length=253)
    state = models.CharField(max_length=16, choices=PlanState.choices, default=PlanState.PLANNING)
    forced = models.BooleanField(default=False)
    ttl = models.PositiveIntegerField(default=3600)
    # Plan.to_json(): changes with before/after, notes, refusals, counts.
    content = models.JSONField(default=dict, blank=True)
    # Per-record visibility in DNS after the apply.
    result = models.JSONField(default=list, blank=True)
    plan_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    apply_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"plan for {self.zone_name} ({self.state})"

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.content.get("counts", {}))
