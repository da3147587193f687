"""The Markdown a privacy policy needs, and nothing else: everything outside it is escaped.

Headings (``#`` becomes ``<h2>``: the page's ``<h1>`` is "Privacy policy"), paragraphs,
``-`` lists, ``**bold**`` and links to ``https://`` or to a path on this panel. A line
break inside a paragraph stays a line break, so the plain-text policies shipped before
Markdown still read as they were written. The result passes through nh3 as well: the
renderer escapes, nh3 guarantees.
"""

from __future__ import annotations

import re
from html import escape

import nh3
from django.utils.safestring import SafeString, mark_safe

HEADING = re.compile(r"^(#{1,5})\s+(.+?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^\s*-\s+(.*)$")
# A link's target: https, or a path here ("/x", never "//host"); no spaces, quotes or brackets.
LINK = re.compile(r"\[([^\[\]]+)\]\((https://[^\s()<>\"']+|/(?!/)[^\s()<>\"']*)\)")
BOLD = re.compile(r"\*\*(.+?)\*\*")

ALLOWED_TAGS = {"h2", "h3", "h4", "h5", "h6", "p", "br", "ul", "li", "strong", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}


def _links(text: str) -> str:
    """``text`` escaped, with its links as anchors."""
    out: list[str] = []
    last = 0
    for match in LINK.finditer(text):
        out.append(escape(text[last : match.start()]))
        label, href = match.groups()
        out.append(f'<a href="{escape(href)}">{escape(label)}</a>')
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def inline(text: str) -> str:
    """One line's text as HTML: bold and links, everything else escaped."""
    out: list[str] = []
    last = 0
    for match in BOLD.finditer(text):
        out.append(_links(text[last : match.start()]))
        out.append(f"<strong>{_links(match.group(1))}</strong>")
        last = match.end()
    out.append(_links(text[last:]))
    return "".join(out)


def _blocks(lines: list[str]) -> list[str]:
    html: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if paragraph:
            html.append("<p>" + "<br>\n".join(inline(line) for line in paragraph) + "</p>")
            paragraph.clear()
        if items:
            html.append("<ul>\n" + "\n".join(f"<li>{inline(i)}</li>" for i in items) + "\n</ul>")
            items.clear()

    for raw in lines:
        line = raw.rstrip()
        heading = HEADING.match(line)
        item = LIST_ITEM.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1)) + 1
            html.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif item:
            if paragraph:
                flush()
            items.append(item.group(1))
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    return html


def render_markdown(text: str) -> SafeString:
    """The policy's Markdown as safe HTML (escaped by construction, then cleaned by nh3)."""
    html = "\n".join(_blocks(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")))
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"https"},
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - escaped above, then sanitised by nh3
