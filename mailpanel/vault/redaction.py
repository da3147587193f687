"""One place that knows what a secret looks like.

Every log line, job log line and error report passes through :func:`redact`.
Known secret values are registered when the vault decrypts them, so even a
secret with no recognisable shape never reaches a log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"

# Shapes that are secrets wherever they appear, known to the vault or not.
_SHAPES = [
    re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S
    ),
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*", re.S),
    re.compile(r"\bnvapi-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bsk_(?:live|test)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"),
    re.compile(r"(?i)(authorization\s*[:=]\s*)(?:bearer|basic|token)?\s*[^\s,;'\"]+"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"(?i)(\b(?:password|passwd|secret|api[_-]?key|token)\b\s*[=:]\s*)[^\s,;'\"]+"),
]

_MIN_KNOWN_LENGTH = 4


class _KnownSecrets:
    """Process-wide set of secret values to scrub, longest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()

    def add(self, *values: str) -> None:
        fresh = {v for v in values if isinstance(v, str) and len(v) >= _MIN_KNOWN_LENGTH}
        if not fresh - self._values:
            return
        with self._lock:
            self._values |= fresh
            # Longest first so a secret that contains another is removed whole.
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def values(self) -> tuple[str, ...]:
        return self._ordered


known_secrets = _KnownSecrets()


def register_secret(*values: str) -> None:
    known_secrets.add(*values)


def register_secrets_in(data: Any) -> None:
    """Register every string leaf of a decrypted secret payload."""
    if isinstance(data, str):
        register_secret(data)
        for line in data.splitlines():
            register_secret(line.strip())
    elif isinstance(data, Mapping):
        for value in data.values():
            register_secrets_in(value)
    elif isinstance(data, Iterable):
        for value in data:
            register_secrets_in(value)


def _replace_shape(match: re.Match[str]) -> str:
    prefix = match.group(1) if match.re.groups else ""
    return f"{prefix}{REDACTED}"


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Return ``text`` with every known secret and secret-shaped token replaced."""
    if not text:
        return text
    for value in (*sorted(extra, key=len, reverse=True), *known_secrets.values()):
        if value and value in text:
            text = text.replace(value, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(_replace_shape, text)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts, lists and tuples (structlog event dicts)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value
