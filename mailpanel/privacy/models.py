"""Privacy policy versions and who accepted which, when."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class PolicyVersion(models.Model):
    version = models.CharField(max_length=32, unique=True)
    # When it takes effect (the public page shows the current one: published_at <= now).
    published_at = models.DateTimeField()
    summary = models.TextField(blank=True)  # what changed, for people
    text = models.TextField()  # Markdown; rendered safely, never as raw HTML
    # A material change is mailed to every active user and bannered until acknowledged.
    material = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When staff sent its notice (the mailing goes on from the notices not yet sent).
    notice_started_at = models.DateTimeField(null=True, blank=True)

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
    # The consent to international transfers the policy asks for at signup (the assistant's
    # model runs at NVIDIA in the USA; DNS providers and servers are where the user chose).
    transfers_consented_at = models.DateTimeField(null=True, blank=True)

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


class NoticeState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # retried by the next run, up to MAX_ATTEMPTS
    BOUNCED = "bounced", "Bounced"  # refused for good: not retried


class PolicyNotice(models.Model):
    """One user told of one policy version: delivery, when they saw it, when acknowledged."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_notices"
    )
    policy = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="notices")
    state = models.CharField(max_length=16, choices=NoticeState.choices, default=NoticeState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    # When a run took it to send (with message_id set); a run that died leaves it claimed.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The receiving side refused it for good (at SMTP time, or by a later bounce).
    bounced_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)  # the banner was shown
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # Used the panel after the effective date without acknowledging: recorded, as the
    # policy says continued use counts as acceptance.
    continued_use_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "policy"], name="one_notice_per_version")
        ]
        indexes = [models.Index(fields=["policy", "state"])]

    def __str__(self) -> str:
        return f"{self.policy_id} to {self.user_id}: {self.state}"


class RequestKind(models.TextChoices):
    ACCESS = "access", "Access: what do you hold about me?"
    EXPORT = "export", "Export (portability)"
    CORRECTION = "correction", "Correction"
    DELETION = "deletion", "Deletion"
    RESTRICTION = "restriction", "Restriction"
    OBJECTION = "objection", "Objection"
    OTHER = "other", "Other"


class RequestState(models.TextChoices):
    AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting the requester's confirmation"
    IDENTITY_NOT_VERIFIED = "identity_not_verified", "Identity not verified"
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled"
    REFUSED = "refused", "Refused"


class DataRequest(models.Model):
    """A data subject's request, with its 30-day clock from receipt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=16, unique=True)  # e.g. DR-7Q4K2M, told to them
    # The account it concerns, when the requester's address is one (else staff verify).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="data_requests",
    )
    email = models.EmailField()  # where acknowledgements and the reply go
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    details = models.TextField(blank=True)
    channel = models.CharField(max_length=8, default="panel")  # panel or mail
    inbound = models.OneToOneField(
        "inbound.InboundMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=24, choices=RequestState.choices)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()  # 30 calendar days after receipt
    confirmed_at = models.DateTimeField(null=True, blank=True)
    reminded_day20_at = models.DateTimeField(null=True, blank=True)
    reminded_day27_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reply = models.TextField(blank=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return self.reference


class RequestEvent(models.Model):
    """The audit trail of a data request: every state change, who and when."""

    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)  # "staff a@b", "requester", "panel"
    action = models.CharField(max_length=64)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.action}"


class MinorReportState(models.TextChoices):
    OPEN = "open", "Open"
    CONFIRMED = "confirmed", "Confirmed: account deleted"
    DISMISSED = "dismissed", "Dismissed"


class MinorReport(models.Model):
    """A report that an account belongs to someone under 18. The audit stays, the data goes."""

    reported_email = models.EmailField()  # the account reported (blanked once deleted)
    reporter_email = models.EmailField(blank=True)
    details = models.TextField(blank=True)
    channel = models.CharField(max_length=8, default="form")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    state = models.CharField(
        max_length=16, choices=MinorReportState.choices, default=MinorReportState.OPEN
    )
    received_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Minor report {self.pk}"


class Incident(models.Model):
    """A personal-data breach: the 72 hours run from ``aware_at``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    aware_at = models.DateTimeField()  # when the operator became aware
    what_happened = models.TextField()
    categories = models.JSONField(default=list)  # registry category keys affected
    # Who is affected: {"kind": "all" | "credential_kind" | "active_between" | "emails", ...}
    audience = models.JSONField(default=dict)
    notice_subject = models.CharField(max_length=200)
    notice_text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    test_sent_at = models.DateTimeField(null=True, blank=True)  # a test sent to staff first
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sending_finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-aware_at"]

    def __str__(self) -> str:
        return self.title


class BreachNotice(models.Model):
    """One affected user told of one incident, with when it went out (the proof)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="breach_notices",
    )
    email = models.EmailField()
    state = models.CharField(max_length=16, choices=NoticeState.choices, default=NoticeState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The receiving side refused it for good (at SMTP time, or by a later bounce).
    bounced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "email"], name="one_notice_per_address")
        ]
        indexes = [models.Index(fields=["incident", "state"])]

    def __str__(self) -> str:
        return f"{self.incident_id} to {self.email}: {self.state}"
