"""Sending domains on a server, their DKIM keys (private halves sealed) and SMTP users.

A domain is signed for and published only once its owner proved control of it
(`verified_at`): otherwise anyone could add another tenant's domain to their own server.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from mailpanel.names import domain_to_unicode
from mailpanel.servers.models import Server
from mailpanel.vault.sealed import Sealed


class VerifiedBy(models.TextChoices):
    DNS_ACCOUNT = "dns_account", "its zone is in one of your DNS accounts"
    TXT = "txt", "a TXT record with your token"
    UPGRADE = "upgrade", "it was set up before the panel asked for proof"


class SendingDomain(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="domains"
    )
    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="domains")
    name = models.CharField(max_length=253, help_text="A-label (punycode) form")
    dmarc_policy = models.CharField(
        max_length=16,
        choices=[("none", "none"), ("quarantine", "quarantine"), ("reject", "reject")],
        default="none",
    )
    dmarc_report_address = models.EmailField(blank=True)
    mta_sts_mode = models.CharField(
        "MTA-STS mode",
        max_length=16,
        choices=[("testing", "testing"), ("enforce", "enforce")],
        default="testing",
    )
    signing_since = models.DateTimeField(
        null=True, blank=True, help_text="When a converge first put its DKIM key on the server"
    )
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the owner proved control of the domain"
    )
    verified_by = models.CharField(max_length=16, choices=VerifiedBy.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="domain_name_unique"),
            # One tenant at most has proved control of a name: the backstop of the check
            # made in the adding and verifying transactions, when two of them race.
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(verified_at__isnull=False),
                name="domain_verified_once",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return domain_to_unicode(self.name)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def active_key(self) -> DkimKey | None:
        return self.dkim_keys.filter(active=True).order_by("-created_at").first()


class DkimKey(Sealed):
    """An RSA key pair; the private half is sealed, the public half is what DNS publishes."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dkim_keys"
    )
    domain = models.ForeignKey(SendingDomain, on_delete=models.CASCADE, related_name="dkim_keys")
    selector = models.CharField(max_length=63)
    bits = models.PositiveIntegerField(default=2048)
    public_key = models.TextField(help_text="base64 DER SubjectPublicKeyInfo, the p= value")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "selector"], name="dkim_selector_unique")
        ]

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name}"

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name}"

    @property
    def record_value(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_key}"


class SmtpUser(models.Model):
    """A login for SMTP submission. The password is shown once; only its hash is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="smtp_users"
    )
    domain = models.ForeignKey(SendingDomain, on_delete=models.CASCADE, related_name="smtp_users")
    local_part = models.CharField(max_length=64)
    password_hash = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["local_part"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "local_part"], name="smtp_user_unique")
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"
