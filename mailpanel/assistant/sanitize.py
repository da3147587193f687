"""HTML cleaning with nh3: what the panel stores, previews and exports is this, never raw.

Scripts, event handlers, forms, frames and javascript: links are removed; inline styles
survive only for layout and typography properties email clients understand, and never with
a ``url(...)`` (or ``image-set``, ``expression``) in them: a style that fetches an image is a
tracking pixel for whoever reads the draft or the exported message.
"""

from __future__ import annotations

import re

import nh3

TAGS = set(nh3.ALLOWED_TAGS) | {"font"}
_LAYOUT = {"align", "valign", "width", "height", "bgcolor", "border", "cellpadding"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "title", "lang", "dir"},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "width", "height", "align"},
    "table": {*_LAYOUT, "cellspacing", "role"},
    "td": {*_LAYOUT, "colspan", "rowspan"},
    "th": {*_LAYOUT, "colspan", "rowspan", "scope"},
    "tr": _LAYOUT,
    "font": {"color", "face", "size"},
}
STYLE_PROPERTIES = {
    "color", "background", "background-color", "font", "font-family", "font-size",
    "font-weight", "font-style", "line-height", "letter-spacing", "text-align",
    "text-decoration", "text-transform", "vertical-align", "width", "max-width", "height",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left", "padding",
    "padding-top", "padding-right", "padding-bottom", "padding-left", "border",
    "border-top", "border-right", "border-bottom", "border-left", "border-radius",
    "border-collapse", "display", "max-height", "overflow", "mso-hide",
}  # fmt: skip


_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_FETCHING = ("url(", "image-set(", "image(", "expression(", "src(")


def _unescaped(declaration: str) -> str:
    """The declaration as a CSS parser reads it: escapes decoded, comments and spaces gone."""

    def decode(match: re.Match[str]) -> str:
        if match[1]:
            code = int(match[1], 16)
            return chr(code) if 0 < code <= 0x10FFFF else ""
        return str(match[2])

    text = _CSS_COMMENT.sub("", _CSS_ESCAPE.sub(decode, declaration))
    return "".join(text.split()).lower()


def without_fetches(style: str) -> str:
    """``style`` less every declaration that would load something from elsewhere."""
    kept = [d for d in style.split(";") if not any(f in _unescaped(d) for f in _FETCHING)]
    return ";".join(kept).strip(" ;")


def _filter(_element: str, attribute: str, value: str) -> str | None:
    if attribute != "style":
        return value
    return without_fetches(value) or None


def clean_html(markup: str) -> str:
    return nh3.clean(
        markup,
        tags=TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties=STYLE_PROPERTIES,
        strip_comments=True,
    )
