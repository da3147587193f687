"""A received message's bytes, read into the fields we store: never crashes, never trusts.

Whatever the sender wrote, the result is safe to store and to show: header values are one
line (CR, LF and other control characters become spaces, so nothing can smuggle a second
header into a reply), text is valid Unicode (undecodable bytes and unknown charsets become
U+FFFD), and HTML is kept only as cleaned by nh3. Malformed MIME keeps what can be read.
"""

from __future__ import annotations

import codecs
import email.policy
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser

import nh3
from django.conf import settings

log = logging.getLogger(__name__)

# The model's column widths (models.py); longer values are cut, PostgreSQL would refuse them.
MAX_ID = 998
MAX_ADDRESS = 320
MAX_NAME = 200
MAX_SUBJECT = 998
MAX_FILENAME = 255
MAX_CONTENT_TYPE = 127
MAX_DEPTH = 30  # MIME nesting we follow; deeper parts are left in the raw file

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_ANGLE_ADDR = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*(?:\([^()]*\)\s*)?$")
# Writes an attached message back as it came: headers not refolded or re-encoded.
_AS_SENT = email.policy.compat32.clone(linesep="\r\n", mangle_from_=False)


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes

    @property
    def size(self) -> int:
        return len(self.payload)


@dataclass
class ParsedMessage:
    message_id: str
    from_address: str = ""
    from_name: str = ""
    subject: str = ""
    in_reply_to: str = ""
    references: str = ""  # Message-IDs, space separated
    text_body: str = ""
    html_body: str = ""  # sanitised
    attachments: list[ParsedAttachment] = field(default_factory=list)


def parse_message(raw: bytes) -> ParsedMessage:
    """The fields of one message; a message that cannot be parsed at all keeps its id."""
    parsed = ParsedMessage(message_id=generated_message_id(raw))
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
    except Exception:  # the parser registers defects; this is for its own bugs
        log.warning("inbound: unparseable message, kept as raw only", exc_info=True)
        parsed.text_body = _text(raw)
        return parsed
    try:
        _read_headers(message, parsed)
    except Exception:
        log.warning("inbound: unreadable headers, kept as raw only", exc_info=True)
    try:
        _read_parts(message, parsed)
    except Exception:
        log.warning("inbound: unreadable MIME structure, body kept as text", exc_info=True)
        parsed.text_body = _text(raw.partition(b"\r\n\r\n")[2] or raw)
    return parsed


def generated_message_id(raw: bytes) -> str:
    """The Message-ID of a message that has none: the same bytes give the same id."""
    return f"<generated-{hashlib.sha256(raw).hexdigest()}@{settings.MAIL_DOMAIN}>"


# --- headers -----------------------------------------------------------------


def _read_headers(message: Message, parsed: ParsedMessage) -> None:
    parsed.message_id = normalise_message_id(_raw_header(message, "Message-ID")) or (
        parsed.message_id
    )
    parsed.subject = one_line(decode_words(_raw_header(message, "Subject")))[:MAX_SUBJECT]
    parsed.from_name, parsed.from_address = from_header(_raw_header(message, "From"))
    parsed.in_reply_to = normalise_message_id(_raw_header(message, "In-Reply-To"))
    references = _MSG_ID.findall(one_line(_raw_header(message, "References")))
    parsed.references = " ".join(dict.fromkeys(r for r in references if len(r) <= MAX_ID))


def _raw_header(message: Message, name: str) -> str:
    """The first such header as sent, unfolded, not yet decoded (the policy's own decoding
    raises on some hostile values, e.g. an encoded CR LF in an address's display name)."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return _FOLD.sub("", _surrogates_to_text(str(value)))
    return ""


def one_line(value: str) -> str:
    """A header value safe to store and to write into a reply: no CR, LF or control chars,
    no lone surrogates (PostgreSQL refuses them)."""
    return " ".join(_CONTROL.sub(" ", _surrogates_to_text(value)).split())


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded; an unknown charset or bad encoding keeps the rest."""
    try:
        pieces = decode_header(value)
    except Exception:
        return value
    out = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif charset is None:
            # decode_header hands back unencoded runs as raw-unicode-escape bytes.
            out.append(piece.decode("raw-unicode-escape", "replace"))
        else:
            out.append(decode_bytes(piece, charset))
    return "".join(out)


def from_header(raw: str) -> tuple[str, str]:
    """(display name, address) of a From value."""
    value = one_line(raw)
    name, address = parseaddr(value)
    angle = _ANGLE_ADDR.search(value)
    if angle and address != angle.group(1):
        # A display name with an unquoted ":" or "@" (an encoded word breaking the
        # phrase rules) confuses parseaddr; the angle address is the sender's own.
        address, name = angle.group(1), value[: angle.start()].strip().strip('"')
    return one_line(decode_words(name))[:MAX_NAME], one_line(address)[:MAX_ADDRESS]


def normalise_message_id(raw: str) -> str:
    """``<id@host>`` (angle brackets added when missing), or "" when there is none."""
    value = one_line(raw)
    found = _MSG_ID.search(value)
    if found:
        mid = found.group(0)
    elif value:
        mid = f"<{value.split()[0].strip('<>')}>"
    else:
        return ""
    return mid if 2 < len(mid) <= MAX_ID else ""


# --- bodies and attachments --------------------------------------------------


def _read_parts(message: Message, parsed: ParsedMessage) -> None:
    html = ""
    for part in _leaves(message, 0):
        filename = _filename(part)
        content_type = _content_type(part)
        if filename:
            parsed.attachments.append(ParsedAttachment(filename, content_type, _payload(part)))
        elif content_type == "message/rfc822":
            parsed.attachments.append(
                ParsedAttachment("attached-message.eml", content_type, _payload(part))
            )
        elif _disposition(part) == "attachment":
            continue  # an attachment without a name: in the raw file only
        elif content_type == "text/html" and not html:
            html = _decoded_text(part)
        elif content_type.startswith(("text/", "multipart/")) and not parsed.text_body:
            # A "multipart" leaf is a multipart whose boundary was never found: its
            # content is all that could be read, so it stands as the text.
            parsed.text_body = _decoded_text(part).replace("\x00", "")
    if html:
        parsed.html_body = sanitise_html(html)
        if not parsed.text_body:
            parsed.text_body = html_to_text(html)


def _leaves(part: Message, depth: int) -> Iterator[Message]:
    if depth > MAX_DEPTH:
        return
    if part.get_content_maintype() == "message" and part.is_multipart():
        yield part  # an attached message stays whole
    elif part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _leaves(sub, depth + 1)
    else:
        yield part


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        return "attachment"
    # Only a name to show: the file itself is stored under a name of our own.
    name = one_line(decode_words(_surrogates_to_text(str(name))))
    return name.replace("\\", "/").rsplit("/", 1)[-1][:MAX_FILENAME]


def _content_type(part: Message) -> str:
    try:
        return one_line(part.get_content_type())[:MAX_CONTENT_TYPE]
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str:
    try:
        return part.get_content_disposition() or ""
    except Exception:
        return ""


def _payload(part: Message) -> bytes:
    try:
        if part.is_multipart():  # an attached message/rfc822
            inner = part.get_payload(0)
            return inner.as_bytes(policy=_AS_SENT) if isinstance(inner, Message) else b""
        payload = part.get_payload(decode=True)
    except Exception:
        log.warning("inbound: unreadable attachment, listed empty", exc_info=True)
        return b""
    return payload if isinstance(payload, bytes) else b""


def _decoded_text(part: Message) -> str:
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    return decode_bytes(_payload(part), charset)


def decode_bytes(data: bytes, charset: str) -> str:
    """Text in the declared charset; an unknown one is read as UTF-8; bad bytes become U+FFFD."""
    try:
        codec = codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        codec = "utf-8"
    if codec in {"us-ascii", "ascii"}:
        codec = "utf-8"  # mislabelled 8-bit text is usually UTF-8; ASCII is a subset
    try:
        return data.decode(codec, "replace")
    except Exception:  # a codec that is not a text codec (e.g. "base64" as a charset)
        return data.decode("utf-8", "replace")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\x00", "")


def _surrogates_to_text(value: str) -> str:
    """The email package keeps undecodable header bytes as lone surrogates: make them text."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --- HTML --------------------------------------------------------------------


def sanitise_html(html: str) -> str:
    """HTML safe to show: no scripts, styles or event handlers; links get rel=noopener."""
    return nh3.clean(
        html.replace("\x00", ""),
        link_rel="noopener noreferrer",
        strip_comments=True,
        clean_content_tags={"script", "style", "title", "head"},
    )


_BLOCKS = {
    "address", "article", "blockquote", "br", "div", "dl", "dt", "dd", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section",
    "table", "tr", "ul",
}  # fmt: skip
_HIDDEN = {"script", "style", "head", "title", "template"}


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """A plain-text rendering of an HTML body: tags stripped, paragraphs kept as lines."""
    renderer = _TextRenderer()
    try:
        renderer.feed(html.replace("\x00", ""))
        renderer.close()
    except Exception:
        return one_line(nh3.clean(html, tags=set()))
    lines = (" ".join(line.split()) for line in "".join(renderer.chunks).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
