"""HTML cleaning with nh3: what the panel stores, previews and exports is this, never raw.

Scripts, event handlers, forms, frames and javascript: links are removed; inline styles
survive only for layout and typography properties email clients understand.
"""

from __future__ import annotations

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


def clean_html(markup: str) -> str:
    return nh3.clean(
        markup,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties=STYLE_PROPERTIES,
        strip_comments=True,
    )
