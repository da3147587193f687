"""Settings of the DNS app, with defaults: ``settings.DNS_*`` overrides, else the environment.

The app reads them through these functions (not at import), so a test's ``settings``
fixture changes them for one test.
"""

from __future__ import annotations

from django.conf import settings

from mailpanel.conf import env_int
from mailpanel.dns.providers.http import RetryPolicy

DEFAULT_TTL = 3600


def _number(name: str, default: int) -> float:
    return float(getattr(settings, name, env_int(f"MAILPANEL_{name}", default)))


def verify_timeout() -> float:
    """How long an apply waits for every record to be visible at the configured resolvers."""
    return _number("DNS_VERIFY_TIMEOUT_SECONDS", 300)


def verify_max_interval() -> float:
    """The longest pause between two rounds of lookups (the backoff starts at 0.5 s)."""
    return _number("DNS_VERIFY_MAX_INTERVAL_SECONDS", 10)


def dkim_rotation_wait() -> float:
    """How long the old DKIM selector stays published after the server signs with the new one.

    Two days by default: messages signed with the old key may sit in queues, and receivers
    verify them when they arrive.
    """
    return _number("DKIM_ROTATION_WAIT_SECONDS", 2 * 86400)


def retry_policy() -> RetryPolicy:
    """The providers' retry bounds; tests shorten the longest single wait."""
    cap = _number("DNS_RETRY_AFTER_CAP_SECONDS", 60)
    backoff_cap = min(5.0, cap)
    return RetryPolicy(
        retry_after_cap_s=cap, backoff_cap_s=backoff_cap, backoff_base_s=min(0.2, cap)
    )
