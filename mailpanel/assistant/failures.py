"""What can go wrong talking to NVIDIA, each in the words the user reads.

Messages are written here, never copied from the upstream error, so no key, header or
request body can reach a page through an error.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

from mailpanel.vault.redaction import redact

# Where the user fixes each problem: shown as a link next to the message.
FIX_SETTINGS = "settings"
FIX_CREDENTIALS = "credentials"


class LlmError(Exception):
    """An answer NVIDIA could not give; ``message`` is for the user, ``detail`` for the log."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        detail: str = "",
        retry_after: int | None = None,
        fix: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = redact(detail)[:300]
        self.retry_after = retry_after
        self.fix = fix

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retry_after": self.retry_after}


def retry_after_seconds(value: str | None, now: float | None = None) -> int | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, math.ceil(when.timestamp() - (time.time() if now is None else now)))


def _seconds_phrase(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def _detail_of(body: object) -> str:
    if isinstance(body, Mapping):
        return str(body.get("detail") or body.get("title") or body.get("message") or "")
    return str(body or "")


def from_status(status: int, body: object, headers: Mapping[str, str], model: str) -> LlmError:
    """Map an HTTP error answer (NVIDIA sends problem+json) to what the user should do."""
    detail = _detail_of(body)
    if status == 401:
        return LlmError(
            "key_rejected",
            "NVIDIA rejected your API key: it may be mistyped, revoked or expired. "
            "Replace it under Credentials, then choose it again in the assistant settings.",
            status=status,
            detail=detail,
            fix=FIX_CREDENTIALS,
        )
    if status == 403 and "credit" in detail.lower():
        return LlmError(
            "no_credits",
            "Your NVIDIA account has run out of credits. Add credits at build.nvidia.com, "
            "or use another key.",
            status=status,
            detail=detail,
            fix=FIX_CREDENTIALS,
        )
    if status == 403:
        return LlmError(
            "key_rejected",
            "NVIDIA refused this key for this model (no access). Check the key's "
            "permissions at build.nvidia.com, or use another key.",
            status=status,
            detail=detail,
            fix=FIX_CREDENTIALS,
        )
    if status == 404:
        return LlmError(
            "model_unavailable",
            f"NVIDIA does not offer the model “{model}” to your key. "
            "Pick another model in the assistant settings.",
            status=status,
            detail=detail,
            fix=FIX_SETTINGS,
        )
    if status == 410:
        return LlmError(
            "model_retired",
            f"NVIDIA has retired the model “{model}”. Pick another model in the assistant "
            "settings.",
            status=status,
            detail=detail,
            fix=FIX_SETTINGS,
        )
    if status == 429:
        return _rate_limited(status, detail, headers)
    if status == 400 or status == 422:
        return LlmError(
            "degraded",
            f"NVIDIA could not run “{model}” just now (the model is degraded). Try again in a "
            "few minutes, or pick another model in the assistant settings.",
            status=status,
            detail=detail,
            fix=FIX_SETTINGS,
        )
    return LlmError(
        "upstream_failed",
        f"NVIDIA's service failed (error {status}). Nothing is wrong with your key or brief; "
        "try again in a few minutes.",
        status=status,
        detail=detail,
    )


def _rate_limited(status: int, detail: str, headers: Mapping[str, str]) -> LlmError:
    wait = retry_after_seconds(headers.get("retry-after"))
    when = f"in {_seconds_phrase(wait)}" if wait is not None else "in a minute"
    return LlmError(
        "rate_limited",
        f"NVIDIA says too many requests were made with your key. Try again {when} "
        "(free keys allow about 40 requests a minute).",
        status=status,
        detail=detail,
        retry_after=wait,
    )


def first_token_timeout(seconds: float) -> LlmError:
    return LlmError(
        "first_token_timeout",
        f"NVIDIA did not start answering within {seconds:g} seconds; it may be busy. "
        "Try again in a few minutes.",
    )


def answer_timeout(seconds: float, partial: bool) -> LlmError:
    kept = " The text written so far is kept as an incomplete draft." if partial else ""
    return LlmError(
        "answer_timeout",
        f"NVIDIA's answer took longer than {seconds:g} seconds, so it was stopped.{kept}",
    )


def stalled(seconds: float) -> LlmError:
    return LlmError(
        "stalled",
        f"NVIDIA stopped sending for {seconds:g} seconds in the middle of the answer. "
        "The text written so far is kept as an incomplete draft.",
    )


def unreachable(detail: str) -> LlmError:
    return LlmError(
        "unreachable",
        "The panel could not reach NVIDIA's API. Try again in a few minutes; if it lasts, "
        "ask your administrator whether this server may connect to it.",
        detail=detail,
    )


def cut(detail: str) -> LlmError:
    return LlmError(
        "cut",
        "The connection to NVIDIA broke off in the middle of the answer. "
        "The text written so far is kept as an incomplete draft.",
        detail=detail,
    )


def bad_answer(detail: str) -> LlmError:
    return LlmError(
        "bad_answer",
        "NVIDIA sent an answer the panel could not read. Try again in a few minutes.",
        detail=detail,
    )
