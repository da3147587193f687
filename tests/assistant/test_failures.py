"""Retry-After in both of its forms, and messages that never echo what NVIDIA said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailpanel.assistant.failures import from_status, retry_after_seconds

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("7") == 7
    later = format_datetime(NOW + timedelta(seconds=95), usegmt=True)
    assert retry_after_seconds(later, now=NOW.timestamp()) == 95
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_long_wait_is_said_in_minutes() -> None:
    error = from_status(429, {}, {"retry-after": "600"}, "m")
    assert "Try again in 10 minutes" in error.message and error.retry_after == 600


def test_the_message_never_carries_the_upstream_detail_and_the_log_detail_is_redacted() -> None:
    body = {"status": 401, "detail": "bad key nvapi-AAAAAAAAAAAAAAAAAAAAAAAA for user x"}
    error = from_status(401, body, {}, "m")
    assert "nvapi-" not in error.message and "user x" not in error.message
    assert "nvapi-AAAA" not in error.detail and "[redacted]" in error.detail


def test_a_403_without_credit_words_is_a_refused_key() -> None:
    assert from_status(403, {"detail": "Forbidden"}, {}, "m").code == "key_rejected"
    assert from_status(403, {"detail": "Cloud credits expired"}, {}, "m").code == "no_credits"
