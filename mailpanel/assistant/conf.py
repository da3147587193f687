"""The assistant's settings, read at call time so a test's ``settings`` override applies.

A Django setting of the same name wins over the environment variable, so the timeouts
can live in settings.py later without touching this app.
"""

from __future__ import annotations

from django.conf import settings

from mailpanel.conf import env_int


def _seconds(name: str, env: str, default: int) -> float:
    value = getattr(settings, name, None)
    return float(value if value is not None else env_int(env, default))


def api_url() -> str:
    return str(settings.NVIDIA_API_URL).rstrip("/")


def default_model() -> str:
    return str(settings.NVIDIA_MODEL)


def answer_timeout() -> float:
    """The longest one whole answer may take (MAILPANEL_NVIDIA_TIMEOUT_SECONDS)."""
    return _seconds("NVIDIA_TIMEOUT_SECONDS", "MAILPANEL_NVIDIA_TIMEOUT_SECONDS", 60)


def first_token_timeout() -> float:
    """How long to wait for the first word (MAILPANEL_NVIDIA_FIRST_TOKEN_TIMEOUT_SECONDS).

    Also the longest silence allowed between two pieces of a stream.
    """
    return _seconds(
        "NVIDIA_FIRST_TOKEN_TIMEOUT_SECONDS", "MAILPANEL_NVIDIA_FIRST_TOKEN_TIMEOUT_SECONDS", 30
    )


def connect_timeout() -> float:
    return min(10.0, answer_timeout())
