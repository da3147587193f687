"""Counters for what strangers can make the panel do: 5 an hour by default.

Counted in Django's cache (local memory, or Redis when the panel has one) in fixed windows
that start with the first use. Keys are hashed: the cache is no place for addresses.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

PER_HOUR = 5
WINDOW_SECONDS = 3600


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"privacy:{kind}:{digest}"


def used(kind: str, value: str) -> int:
    """How many of ``kind`` ``value`` used in its current window (0 when none)."""
    return int(cache.get(_key(kind, value), 0))


def take(kind: str, value: str, per_hour: int = PER_HOUR) -> bool:
    """Count one use; False when ``value`` already had its ``per_hour`` in this window."""
    key = _key(kind, value)
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        count = int(cache.incr(key))
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, WINDOW_SECONDS)
        count = 1
    return count <= per_hour
