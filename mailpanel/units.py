"""Sizes as people read them: binary units (what `free -h` and `df -h` print), one function."""

from __future__ import annotations

UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def size_from_kib(kib: int | float | str | None) -> str:
    """``24683520`` (KiB, as /proc/meminfo and ``df -k`` give it) -> ``"23.5 GiB"``."""
    try:
        value = float(kib or 0)
    except (TypeError, ValueError):
        return "—"
    unit = 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    shown = f"{value:.1f}" if value < 100 and unit else f"{value:.0f}"
    return f"{shown.removesuffix('.0')} {UNITS[unit]}"
