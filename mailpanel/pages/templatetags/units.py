from __future__ import annotations

from django import template

from mailpanel.units import size_from_kib

register = template.Library()


@register.filter
def kib(value: object) -> str:
    """A KiB count as a size: ``{{ server.facts.mem_kb|kib }}`` -> ``23.5 GiB``."""
    return size_from_kib(value if isinstance(value, int | float | str) else None)
