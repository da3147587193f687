"""A customer's server: where it is, how the panel logs in, and the host key it pinned."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from mailpanel.vault.models import Credential


class HostKeyState(models.TextChoices):
    UNCONFIRMED = "unconfirmed", "Not confirmed yet"
    CONFIRMED = "confirmed", "Confirmed"
    CHANGED = "changed", "Changed: possible interception"


class Server(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="servers"
    )
    name = models.CharField(max_length=100)
    host = models.CharField(max_length=253, help_text="Hostname or IP address")
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=32, default="root")
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="servers", verbose_name="login"
    )
    sudo_credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sudo_servers",
        verbose_name="sudo password",
    )
    mail_hostname = models.CharField(
        max_length=253, help_text="The name this server uses in SMTP (HELO, certificate, PTR)"
    )
    tls_mode = models.CharField(
        max_length=16,
        choices=[("self_signed", "Self-signed certificate"), ("acme", "ACME (Let's Encrypt)")],
        default="self_signed",
        verbose_name="TLS certificate",
        help_text="ACME needs port 80 of the server reachable under the mail hostname.",
    )
    host_key = models.TextField(blank=True)
    host_key_fingerprint = models.CharField(max_length=100, blank=True)
    host_key_state = models.CharField(
        max_length=16, choices=HostKeyState.choices, default=HostKeyState.UNCONFIRMED
    )
    host_key_confirmed_at = models.DateTimeField(null=True, blank=True)
    offered_host_key = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True)
    facts_at = models.DateTimeField(null=True, blank=True)
    converged_at = models.DateTimeField(null=True, blank=True)
    # Jobs that change the server take turns: the holder of this lease, until it expires.
    changing_job = models.UUIDField(null=True, blank=True)
    changing_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="server_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def uses_acme(self) -> bool:
        """Its certificate comes from an ACME CA: one senders trust (MTA-STS needs that)."""
        return self.tls_mode == "acme"

    @property
    def address(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def ready(self) -> bool:
        return self.host_key_state == HostKeyState.CONFIRMED

    @property
    def offered_fingerprint(self) -> str:
        from mailpanel.servers.ssh import fingerprint

        return fingerprint(self.offered_host_key) if self.offered_host_key else ""


class FleetAction(models.TextChoices):
    HEALTH = "health", "Health check"
    CONVERGE = "converge", "Converge the mail stack"
    QUEUE_FLUSH = "queue_flush", "Flush mail queues"


class FleetRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fleet_runs"
    )
    action = models.CharField(max_length=16, choices=FleetAction.choices)
    job = models.OneToOneField(
        "jobs.Job", null=True, on_delete=models.SET_NULL, related_name="fleet_run"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on {self.items.count()} servers"


class ItemState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class FleetRunItem(models.Model):
    run = models.ForeignKey(FleetRun, on_delete=models.CASCADE, related_name="items")
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="fleet_items")
    state = models.CharField(max_length=16, choices=ItemState.choices, default=ItemState.QUEUED)
    summary = models.CharField(max_length=500, blank=True)
    result = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server__name"]
        constraints = [models.UniqueConstraint(fields=["run", "server"], name="fleet_item_unique")]

    def __str__(self) -> str:
        return f"{self.server_id}: {self.state}"
