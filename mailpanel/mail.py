"""The panel's own outgoing mail: one door, text and HTML from templates, the right headers.

Every message the panel sends for itself (notices, acknowledgements, replies) goes through
``send_templated``: it renders ``<template>.txt`` and, when it exists, ``<template>.html``,
sets a Message-ID on the panel's domain (returned, so a thread can be followed), threads
replies with In-Reply-To/References, marks automatic mail ``Auto-Submitted: auto-generated``
(RFC 3834) and mail to many a ``List-Id`` of its own. Header values are checked for CR/LF,
so no user value can add a header.

Bounces (VERP): a notice sent with ``bounce_tag`` goes out with the envelope sender
``bounces+<tag>.<mac>@MAIL_DOMAIN`` (the From header stays the panel's). A receiving server
that gives up on the message later sends its delivery status notification there;
``mailpanel inbound`` accepts such an address only when its MAC is right
(:func:`bounce_tag`), so the bounce names exactly one notice and nobody can forge one for
another or fill the store through made-up addresses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.crypto import constant_time_compare, salted_hmac


class HeaderInjection(ValueError):
    """A header value carried a line break."""


def mail_domain() -> str:
    return str(settings.MAIL_DOMAIN)


def new_message_id() -> str:
    return make_msgid(domain=mail_domain())


BOUNCE_LOCAL_PART = "bounces"
_TAG = re.compile(r"[a-z0-9]{1,40}")
_MAC_LENGTH = 16


def _mac(tag: str) -> str:
    return salted_hmac("mailpanel.mail.bounce", tag).hexdigest()[:_MAC_LENGTH]


def bounce_address(tag: str) -> str:
    """The envelope sender whose bounces name ``tag`` (lower-case letters and digits)."""
    if not _TAG.fullmatch(tag):
        raise ValueError(f"a bounce tag is 1-40 lower-case letters and digits, not {tag!r}")
    return f"{BOUNCE_LOCAL_PART}+{tag}.{_mac(tag)}@{mail_domain()}"


def bounce_tag(address: str) -> str | None:
    """The tag of one of our bounce addresses, or None for any other address (or a bad MAC)."""
    local, _at, domain = address.strip().lower().rpartition("@")
    prefix = f"{BOUNCE_LOCAL_PART}+"
    if domain != mail_domain().lower() or not local.startswith(prefix):
        return None
    tag, _dot, mac = local[len(prefix) :].rpartition(".")
    if not _TAG.fullmatch(tag) or not constant_time_compare(mac, _mac(tag)):
        return None
    return tag


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection("a mail header value may not contain a line break")
    return value


def build_message(
    to: Sequence[str],
    subject: str,
    template: str,
    context: Mapping[str, Any],
    *,
    automatic: bool = True,
    list_id: str = "",
    reply_to: Sequence[str] = (),
    in_reply_to: str = "",
    references: Sequence[str] = (),
    message_id: str = "",
    from_email: str = "",
    bounce_tag: str = "",
    connection: BaseEmailBackend | None = None,
) -> EmailMultiAlternatives:
    """One message from templates; with ``bounce_tag`` its bounces come back to that tag."""
    ctx = {"panel_url": settings.PUBLIC_URL.rstrip("/"), **context}
    body = render_to_string(f"{template}.txt", ctx)
    headers = {"Message-ID": _clean(message_id or new_message_id())}
    if automatic:
        headers["Auto-Submitted"] = "auto-generated"
    if list_id:
        headers["List-Id"] = f"<{_clean(list_id)}.{mail_domain()}>"
    if in_reply_to:
        headers["In-Reply-To"] = _clean(in_reply_to)
        headers["References"] = _clean(" ".join([*references, in_reply_to]).strip())
    sender = from_email or settings.DEFAULT_FROM_EMAIL
    if bounce_tag:
        # Django's SMTP backend takes the envelope sender from ``from_email`` and the From
        # header from the headers when one is given there.
        headers["From"] = _clean(sender)
        sender = bounce_address(bounce_tag)
    message = EmailMultiAlternatives(
        subject=_clean(" ".join(subject.split())),
        body=body,
        from_email=sender,
        to=[_clean(address) for address in to],
        reply_to=[_clean(address) for address in reply_to],
        headers=headers,
        connection=connection,
    )
    with suppress(TemplateDoesNotExist):  # no HTML template: text only
        message.attach_alternative(render_to_string(f"{template}.html", ctx), "text/html")
    return message


def send_templated(
    to: Sequence[str], subject: str, template: str, context: Mapping[str, Any], **options: Any
) -> str:
    """Send one message; its Message-ID. Raises on an SMTP failure (callers record it)."""
    message = build_message(to, subject, template, context, **options)
    message.send(fail_silently=False)
    return str(message.extra_headers["Message-ID"])


def open_connection() -> BaseEmailBackend:
    """One SMTP connection for a batch of messages (pass it as ``connection=``)."""
    connection: BaseEmailBackend = get_connection(fail_silently=False)
    return connection
