"""Reading an HTML email part for the lint: visible text, links with their text, images."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class HtmlDocument:
    text: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, link text)
    images: list[tuple[str, str | None]] = field(default_factory=list)  # (src, alt)


class _Reader(HTMLParser):
    _INVISIBLE = frozenset({"script", "style", "head", "title", "template"})
    _BREAKS = frozenset({"br", "p", "div", "tr", "td", "li", "h1", "h2", "h3", "h4", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = HtmlDocument()
        self._parts: list[str] = []
        self._hidden = 0
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self._INVISIBLE:
            self._hidden += 1
        elif tag == "a" and values.get("href"):
            self._link = (values.get("href") or "", [])
        elif tag == "img":
            self.doc.images.append((values.get("src") or "", values.get("alt")))
        elif tag in self._BREAKS:
            self._parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "a" and self._link is not None:
            href, words = self._link
            self.doc.links.append((href.strip(), " ".join("".join(words).split())))
            self._link = None
        elif tag in self._BREAKS:
            self._parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self._parts.append(data)
        if self._link is not None:
            self._link[1].append(data)

    def result(self) -> HtmlDocument:
        self.doc.text = " ".join("".join(self._parts).split())
        return self.doc


def read_html(html: str) -> HtmlDocument:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.result()
