"""Billing: a user's billing contact and subscription as the payment processor has them,
the events it sent (each applied once), and the invoices tax law makes us keep.

No card data: the processor's hosted pages take the card, and all the panel keeps of it is
the display data the processor returns (brand, last 4 digits, expiry).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Status(models.TextChoices):
    """The processor's subscription states (Stripe's names), plus "none" before any."""

    NONE = "none", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


class BillingAccount(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing"
    )
    # The billing contact: all the processor is sent about the user.
    name = models.CharField(max_length=200)
    email = models.EmailField()
    company = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2)  # ISO 3166-1 alpha-2
    vat_id = models.CharField(max_length=32, blank=True)
    customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    # The subscription, as last fetched from the processor.
    subscription_id = models.CharField(max_length=255, blank=True)
    subscription_started_at = models.DateTimeField(null=True, blank=True)  # its "created"
    plan = models.CharField(max_length=32, default="free")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NONE)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    past_due_since = models.DateTimeField(null=True, blank=True)
    past_due_notice_sent_at = models.DateTimeField(null=True, blank=True)
    # The processor's display data of the default card; never a number or a CVC.
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.plan} ({self.status})"


class WebhookEvent(models.Model):
    """One event the processor sent, stored once by its id: a replay changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=255, blank=True)
    account = models.ForeignKey(
        BillingAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    result = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class InvoiceRecord(models.Model):
    """A paid invoice as tax law requires it kept (with the billing contact of its day);
    it outlives the account for RETENTION_DAYS["invoices"]."""

    invoice_id = models.CharField(max_length=255, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invoice_records",
    )
    number = models.CharField(max_length=64, blank=True)
    amount_paid = models.PositiveIntegerField(default=0)  # in the currency's minor unit
    currency = models.CharField(max_length=3)
    issued_at = models.DateTimeField()
    paid_at = models.DateTimeField(default=timezone.now)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    company = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    vat_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"{self.number or self.invoice_id}: {self.amount_paid} {self.currency}"
