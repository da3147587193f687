"""Support correspondence: a thread per question, its messages both ways.

A thread starts from the contact form or from a mail to the support or privacy address. Its
reference ("S-4K7Q2M") rides in every subject we send, so a reply finds its way back even
when the correspondent's mail program drops In-Reply-To and References.
"""

from __future__ import annotations

import re
import secrets
import uuid

from django.conf import settings
from django.db import models

# No 0/O, 1/I/L: a reference is read aloud and typed from paper.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6
REFERENCE_IN_SUBJECT = re.compile(
    rf"\[\s*(S-[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}})\s*\]", re.I
)
SUBJECT_MAX = 200


def new_reference() -> str:
    return "S-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class ThreadState(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class Direction(models.TextChoices):
    IN = "in", "From the correspondent"
    OUT = "out", "From support"


class Delivery(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Thread(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=16, unique=True, default=new_reference)
    # A user's threads are their data and go with the account; a thread opened from an
    # address that is no account's has no owner.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="support_threads",
    )
    email = models.CharField(max_length=320, help_text="The correspondent's address")
    subject = models.CharField(max_length=SUBJECT_MAX)
    state = models.CharField(max_length=16, choices=ThreadState.choices, default=ThreadState.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return f"[{self.reference}] {self.subject}"


class SupportMessage(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # The staff member who wrote a reply; none for the correspondent's messages and for the
    # automatic acknowledgement.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_replies",
    )
    automatic = models.BooleanField(default=False, help_text="An acknowledgement the panel sent")
    from_address = models.CharField(max_length=320, blank=True)
    body = models.TextField(blank=True)
    html_body = models.TextField(blank=True, help_text="Sanitised on receipt; never shown raw")
    # Every message has one: received mail its own, the form's and ours one made on the
    # panel's domain. Replies are matched on it, so it is indexed (not unique: a correspondent
    # may send the same Message-ID to two of our addresses).
    message_id = models.CharField(max_length=998, db_index=True, blank=True)
    inbound = models.ForeignKey(
        "inbound.InboundMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_messages",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    delivery = models.CharField(max_length=8, choices=Delivery.choices, blank=True)
    delivery_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.from_address}: {self.body[:60]}"

    @property
    def is_incoming(self) -> bool:
        return self.direction == Direction.IN
