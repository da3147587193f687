"""A draft as files: plain text, an HTML document, and a ready-to-open .eml message."""

from __future__ import annotations

import html
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

from django.utils.text import slugify

from mailpanel.assistant.models import Draft
from mailpanel.assistant.sanitize import clean_html

# The panel does not know which address the user sends from; a reserved example
# domain makes that obvious in the mail program rather than guessing.
PLACEHOLDER_ADDRESS = "sender@example.com"
FALLBACK_SENDER = "Your name"


def filename(draft: Draft, extension: str) -> str:
    stem = slugify(draft.subject)[:60] or f"draft-{str(draft.pk)[:8]}"
    return f"{stem}.{extension}"


def as_text(draft: Draft) -> str:
    text = draft.text.strip()
    return f"{text}\n" if text else ""


def _preheader_block(preheader: str) -> str:
    # The usual hidden preview line: inboxes show it after the subject, readers do not.
    if not preheader.strip():
        return ""
    return (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
        f"{html.escape(preheader.strip())}</div>\n"
    )


def as_html_document(draft: Draft) -> str:
    body = clean_html(draft.html)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(draft.subject)}</title>\n</head>\n<body>\n"
        f"{_preheader_block(draft.preheader)}{body}\n</body>\n</html>\n"
    )


def sender_name(draft: Draft) -> str:
    inputs = draft.inputs if isinstance(draft.inputs, dict) else {}
    name = str(inputs.get("sender_name") or inputs.get("company") or "").strip()
    return " ".join(name.split()) or FALLBACK_SENDER


def as_eml(draft: Draft) -> bytes:
    """A multipart/alternative message (text and HTML) to open in a mail program."""
    message = EmailMessage()
    message["Subject"] = " ".join(draft.subject.split())
    message["From"] = Address(display_name=sender_name(draft), addr_spec=PLACEHOLDER_ADDRESS)
    message["Date"] = formatdate(draft.updated_at.timestamp(), localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="example.com")
    # Outlook and Apple Mail open an unsent message as a new mail ready to edit and send.
    message["X-Unsent"] = "1"
    message.set_content(as_text(draft) or "\n")
    message.add_alternative(as_html_document(draft), subtype="html")
    return message.as_bytes(policy=SMTP)
