"""A short name for the browser behind a User-Agent ("Firefox on Linux"), for people.

A few patterns, not a full parser: the Activity page only needs to let an owner recognise
their own devices. Order matters: Edge and Opera also claim to be Chrome, Chrome claims to
be Safari, and an iPhone says "like Mac OS X".
"""

from __future__ import annotations

import re

BROWSERS: list[tuple[str, re.Pattern[str]]] = [
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Vivaldi", re.compile(r"\bVivaldi/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chromium", re.compile(r"\bChromium/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
]
SYSTEMS: list[tuple[str, re.Pattern[str]]] = [
    ("Windows", re.compile(r"\bWindows\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMacintosh\b|\bMac OS X\b")),
    ("FreeBSD", re.compile(r"\bFreeBSD\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
]
# A tool names itself first ("curl/8.5.0", "python-requests/2.31").
PRODUCT = re.compile(r"^([A-Za-z][\w.+-]{0,39})/")


def _first_match(patterns: list[tuple[str, re.Pattern[str]]], text: str) -> str:
    return next((name for name, pattern in patterns if pattern.search(text)), "")


def browser_summary(user_agent: str) -> str:
    """ "Firefox on Linux", "Safari on iOS", "curl"; "" when nothing was sent."""
    agent = user_agent.strip()
    if not agent:
        return ""
    browser = _first_match(BROWSERS, agent)
    system = _first_match(SYSTEMS, agent)
    if not browser:
        product = PRODUCT.match(agent)
        browser = product.group(1) if product and product.group(1) != "Mozilla" else ""
    if browser and system:
        return f"{browser} on {system}"
    if system:
        return f"A browser on {system}"
    return browser or "Unknown browser"
