"""Mail received for the panel's own addresses (privacy@, support@), stored before the reply.

The raw message lives in the data folder (``inbound/<id>.eml``, 0600); the row holds what
was parsed from it. HTML is kept only sanitised, never as sent.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class InboundMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The Message-ID header (angle brackets kept) or one made up when the sender gave none;
    # unique, so the same message delivered twice is stored once.
    message_id = models.CharField(max_length=998, unique=True)
    mail_from = models.CharField(max_length=320, blank=True)  # the SMTP envelope sender
    rcpt_to = models.JSONField(default=list)  # envelope recipients, lower case
    from_address = models.CharField(max_length=320, blank=True)  # the From header's address
    from_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)  # Message-IDs, space separated
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)  # sanitised with nh3; never shown raw
    raw_size = models.PositiveIntegerField(default=0)
    raw_file = models.CharField(max_length=200, blank=True)  # name inside DATA_DIR/inbound
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Which handler took it ("data_request", "support") and when; an error keeps it for staff.
    routed_to = models.CharField(max_length=32, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    route_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.from_address}: {self.subject[:60]}"

    @property
    def reference_ids(self) -> list[str]:
        """In-Reply-To first, then References, each once."""
        seen: list[str] = []
        for mid in [self.in_reply_to, *self.references.split()]:
            if mid and mid not in seen:
                seen.append(mid)
        return seen


class InboundAttachment(models.Model):
    message = models.ForeignKey(
        InboundMessage, on_delete=models.CASCADE, related_name="attachments"
    )
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=127, blank=True)
    size = models.PositiveIntegerField(default=0)
    # Over the size cap an attachment is listed but not kept.
    stored_file = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.filename or "attachment"
