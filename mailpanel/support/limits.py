"""How many new threads one client and one address may start: 5 an hour each.

Counted in Django's cache (local memory, or Redis when the panel has one) in fixed windows
that start with the first message. No CAPTCHA, so no third party sees our visitors; the
limit is what keeps the form, and the acknowledgement it sends to an address nobody has
proven, from being a way to mail strangers.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

PER_HOUR = 5
WINDOW_SECONDS = 3600


def _key(kind: str, value: str) -> str:
    # Hashed: the cache is no place for addresses, and Memcached-style keys want no spaces.
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"support:{kind}:{digest}"


def _count(kind: str, value: str) -> int:
    key = _key(kind, value)
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, WINDOW_SECONDS)
        return 1


def take(ip: str | None, email: str) -> bool:
    """Count one new thread from ``ip`` to ``email``; False when either had its 5 already.

    Both are counted even when one is over, so a refused attempt still uses the window."""
    counts = [_count("ip", ip or "unknown"), _count("email", email)]
    return all(count <= PER_HOUR for count in counts)


def take_for_address(email: str) -> bool:
    """Count one acknowledgement to ``email``; False past 5 in the hour (a mail loop with an
    autoresponder that marks nothing, or a forged sender)."""
    return _count("email", email) <= PER_HOUR
