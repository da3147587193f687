"""Reading the model's answer into a draft's parts: subject, preheader, text and HTML.

The prompt asks for labelled sections; models do not always oblige, so every part has a
fallback that keeps the text the user paid for.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from mailpanel.assistant.sanitize import clean_html

# "SUBJECT:", also "**Subject:**" and "**Subject**:" as chat models like to write it.
_SECTION = re.compile(
    r"^[ \t]*\**[ \t]*(SUBJECT|PREHEADER|TEXT|HTML)[ \t]*\**[ \t]*:[ \t]*\**[ \t]*", re.M | re.I
)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")
_FENCE = re.compile(r"^```[a-z]*\s*|\s*```$", re.I)
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
FALLBACK_SUBJECT_CHARS = 100


@dataclass
class Parsed:
    subject: str = ""
    preheader: str = ""
    text: str = ""
    html: str = ""
    variants: list[str] = field(default_factory=list)


def sections(reply: str) -> dict[str, str]:
    """The labelled sections of a reply (upper-case names); empty when it has none."""
    found: dict[str, str] = {}
    marks = list(_SECTION.finditer(reply))
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(reply)
        found.setdefault(mark.group(1).upper(), reply[mark.end() : end].strip())
    return found


def variants(reply: str) -> list[str]:
    """One subject line or preheader per line, without numbering or quotes."""
    lines = (_NUMBERING.sub("", line).strip().strip("\"“”'") for line in reply.splitlines())
    return [line for line in lines if line]


def text_to_html(text: str) -> str:
    """Plain text as simple HTML: paragraphs, line breaks, links that show their address."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join(f"<p>{_linked(p)}</p>" for p in paragraphs)


def _linked(paragraph: str) -> str:
    out, last = [], 0
    for match in _URL.finditer(paragraph):
        out.append(html.escape(paragraph[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(paragraph[last:]))
    return "".join(out).replace("\n", "<br>\n")


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    sentence = _SENTENCE_END.split(line, maxsplit=1)[0].strip()
    return sentence if len(sentence) <= FALLBACK_SUBJECT_CHARS else ""


def parse_reply(kind: str, reply: str) -> Parsed:
    if kind in ("subjects", "preheaders"):
        lines = variants(reply)
        first = lines[0] if lines else ""
        parsed = Parsed(text="\n".join(lines), variants=lines)
        if kind == "subjects":
            parsed.subject = first[:300]
        else:
            parsed.preheader = first[:300]
        return parsed
    parts = sections(reply)
    text = parts.get("TEXT") or (reply.strip() if not parts else "")
    markup = _FENCE.sub("", parts.get("HTML", "")).strip()
    parsed = Parsed(
        subject=parts.get("SUBJECT", "").splitlines()[0][:300] if parts.get("SUBJECT") else "",
        preheader=parts.get("PREHEADER", "").splitlines()[0][:300]
        if parts.get("PREHEADER")
        else "",
        text=text,
        html=clean_html(markup) if markup else text_to_html(text),
    )
    if kind == "email" and not parsed.subject:
        # A model that skips the labels mostly opens with a subject-like line.
        parsed.subject = _first_sentence(text)
    return parsed
