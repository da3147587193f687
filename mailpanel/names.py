"""Validation of names that reach servers and DNS: hostnames, domains, users, IPs.

Everything a user types that ends up in a command or a DNS record passes through here
first. The rules are strict on purpose: a name that passes can be used in a command
line or a config file without quoting surprises (and is still quoted, always).
"""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
UNIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
LOCAL_PART_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")
SELECTOR_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
FORBIDDEN = set(";|&`$()<>\\\"' \t\r\n\x00*?!{}[]#~,")


def _reject_metacharacters(value: str, what: str) -> None:
    bad = sorted({ch for ch in value if ch in FORBIDDEN})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise ValidationError(f"{what} may not contain {shown}.")
    if value.startswith("-"):
        raise ValidationError(f"{what} may not start with “-”.")


def domain_to_ascii(value: str, what: str = "A domain name") -> str:
    """IDNA-validate ``value``; return its A-label (punycode) form, lowercase, no final dot."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(f"{what} is required.")
    _reject_metacharacters(raw, what)
    name = raw.rstrip(".").lower()
    if len(name) > 253:
        raise ValidationError(f"{what} is longer than 253 characters.")
    for label in name.split("."):
        if len(label) > 63:
            raise ValidationError(f"{what} has a label longer than 63 characters: {label[:20]}…")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValidationError(f"{what} “{raw}” is not a valid internationalised name.") from exc
    if len(ascii_name) > 253:
        raise ValidationError(f"{what} is longer than 253 characters.")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValidationError(f"{what} needs at least two labels, like example.com.")
    for label in labels:
        if len(label) > 63:
            raise ValidationError(f"{what} has a label longer than 63 characters: {label[:20]}…")
        if not LABEL_RE.match(label):
            raise ValidationError(f"{what} has an invalid label “{label}”.")
    if labels[-1].isdigit():
        raise ValidationError(f"{what} cannot end in a number.")
    return ascii_name


def domain_to_unicode(ascii_name: str) -> str:
    try:
        return ascii_name.encode("ascii").decode("idna")
    except UnicodeError:
        return ascii_name


def host_or_ip(value: str) -> str:
    """A server address: an IPv4/IPv6 address or a DNS hostname (returned in A-label form)."""
    raw = (value or "").strip()
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        pass
    return domain_to_ascii(raw, "The host")


def unix_user(value: str) -> str:
    name = (value or "").strip()
    _reject_metacharacters(name, "The user name")
    if not UNIX_USER_RE.match(name):
        raise ValidationError(
            "The user name must be lowercase letters, digits, - or _ (at most 32 characters)."
        )
    return name


def port(value: int) -> int:
    if not 1 <= int(value) <= 65535:
        raise ValidationError("The port must be between 1 and 65535.")
    return int(value)


def local_part(value: str) -> str:
    name = (value or "").strip().lower()
    _reject_metacharacters(name, "The mailbox name")
    if not LOCAL_PART_RE.match(name) or ".." in name:
        raise ValidationError("The mailbox name must be letters, digits, . _ + or -.")
    return name


def report_address(value: str) -> str:
    """An address for DMARC/TLS-RPT reports, as it goes into `rua=mailto:...`: a plain
    mailbox (no `!`, `,` or `;`, which mean something inside the tag) at a valid domain."""
    text = (value or "").strip()
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at:
        raise ValidationError("Give a whole address, like reports@example.com.")
    try:
        local = local_part(local)
    except ValidationError as exc:
        raise ValidationError(
            "Before the @: letters, digits, . _ + or - (reports go into a DNS record)."
        ) from exc
    return f"{local}@{domain_to_ascii(domain)}"


def dkim_selector(value: str) -> str:
    name = (value or "").strip().lower()
    if not SELECTOR_RE.match(name):
        raise ValidationError("A DKIM selector is letters, digits and -.")
    return name
