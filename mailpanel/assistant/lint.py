"""Deliverability lint: pure functions from an email's parts to a score and its reasons.

The score starts at 100; every finding takes off its points and says why, so a person
can see exactly what to change. Nothing here touches the network or the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from mailpanel.assistant.lint_html import HtmlDocument, read_html
from mailpanel.assistant.lint_words import (
    ACRONYMS,
    PHISHING_PHRASES,
    SPAM_PHRASES,
    UNSUBSCRIBE_WORDS,
    URL_SHORTENERS,
)

SUBJECT_MOBILE_CHARS = 60
SUBJECT_MAX_CHARS = 100
PREHEADER_MAX_CHARS = 150
MANY_LINKS = 6
TOO_MANY_LINKS = 12
IMAGE_ONLY_TEXT_CHARS = 100


@dataclass(frozen=True)
class Email:
    subject: str = ""
    preheader: str = ""
    text: str = ""
    html: str = ""


@dataclass(frozen=True)
class Finding:
    code: str
    points: int  # taken off the score
    message: str  # the reason, for a person


@dataclass(frozen=True)
class LintReport:
    score: int
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "findings": [asdict(f) for f in self.findings]}


_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.I)
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.S)
_CAPS_WORD = re.compile(r"\b[A-Z][A-Z0-9'\u2019]*[A-Z]\b")
_RUN = re.compile(r"!{2,}|\${2,}|[!?]{3,}")
_DOMAIN_TEXT = re.compile(r"^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$", re.I)
_REPLY_PREFIX = re.compile(r"^\s*(re|fw|fwd|aw|wg)\s*:", re.I)
_BROKEN_PLACEHOLDERS = (
    re.compile(r"(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*\}(?!\})"),  # {first_name}
    re.compile(r"\{\{[^{}]*\}(?!\})"),  # {{first_name}
    re.compile(r"(?<!\{)\{[^{}]*\}\}"),  # {first_name}}
    re.compile(r"\{\{\s*[A-Za-z_]+\s+[A-Za-z_]+\s*\}\}"),  # {{first name}}
)
_POSTAL = (
    re.compile(r"\{\{\s*(postal_address|address|company_address|mailing_address)\s*\}\}", re.I),
    re.compile(r"\b(p\.?\s?o\.?\s?box|postfach|boîte postale|apartado)\b", re.I),
    re.compile(
        r"\b\d+[a-z]?,?\s+(?:[A-Za-z.'-]+\s+){0,4}(street|st|avenue|ave|road|rd|boulevard|blvd|"
        r"lane|ln|drive|dr|way|court|ct|place|pl|square|sq|suite|highway|hwy|parkway)\b",
        re.I,
    ),
    re.compile(r"[\wÀ-ÿ-]*(straße|strasse|str\.|weg|gasse|platz|allee|straat|laan)\s+\d+", re.I),
    re.compile(r"\b\d+,?\s+(rue|via|calle|avenida)\s+\w", re.I),
    re.compile(r"\b(rue|via|calle|avenida)\s+[\wÀ-ÿ' -]{2,40},?\s+\d+", re.I),
    re.compile(r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"),  # US state and ZIP code
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"),  # UK postcode
    re.compile(r"\b\d{4,5}\s+[A-ZÀ-Ý][a-zà-ÿ]+"),  # 10115 Berlin, 75001 Paris
)


def _phrases_in(text: str, phrases: Iterable[str]) -> list[str]:
    low = text.lower()
    return [p for p in phrases if re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", low)]


def _quote(items: Iterable[str], limit: int = 5) -> str:
    items = list(items)
    shown = ", ".join(f"“{item}”" for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_subject(email: Email, body: str) -> list[Finding]:
    subject = email.subject.strip()
    if not subject:
        why = "There is no subject line: mail without one is opened less and filtered more."
        return [Finding("subject_missing", 15, why)]
    findings = []
    length = len(subject)
    if length > SUBJECT_MAX_CHARS:
        why = f"The subject has {length} characters: inboxes cut it near 60. Keep it under 60."
        findings.append(Finding("subject_long", 10, why))
    elif length > SUBJECT_MOBILE_CHARS:
        why = f"The subject has {length} characters: phones show about 40, Gmail cuts near 60."
        findings.append(Finding("subject_long", 5, why))
    if _REPLY_PREFIX.match(subject):
        why = (
            "The subject starts like a reply or forward (Re:/Fwd:) to a mail never sent: "
            "CAN-SPAM forbids misleading subject lines."
        )
        findings.append(Finding("subject_fake_reply", 10, why))
    return findings


def check_preheader(email: Email, body: str) -> list[Finding]:
    length = len(email.preheader.strip())
    if length <= PREHEADER_MAX_CHARS:
        return []
    why = f"The preheader has {length} characters; inboxes show about 40 to 130."
    return [Finding("preheader_long", 2, why)]


def check_spam_phrases(email: Email, body: str) -> list[Finding]:
    in_subject = _phrases_in(email.subject, SPAM_PHRASES)
    elsewhere = [p for p in _phrases_in(body, SPAM_PHRASES) if p not in in_subject]
    findings = []
    if in_subject:
        why = f"The subject uses phrases spam filters score: {_quote(in_subject)}."
        findings.append(Finding("spam_phrases_subject", min(20, 6 * len(in_subject)), why))
    if elsewhere:
        why = f"The text uses phrases spam filters score: {_quote(elsewhere)}. Say it plainly."
        findings.append(Finding("spam_phrases", min(20, 4 * len(elsewhere)), why))
    return findings


def check_phishing_language(email: Email, body: str) -> list[Finding]:
    found = _phrases_in(f"{email.subject}\n{email.preheader}\n{body}", PHISHING_PHRASES)
    if not found:
        return []
    why = (
        f"Account or password warnings read as phishing: {_quote(found)}. "
        "Marketing mail must not scare people about their accounts."
    )
    return [Finding("phishing_language", min(40, 20 * len(found)), why)]


def _shouted(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in _CAPS_WORD.findall(_PLACEHOLDER.sub(" ", text)):
        if sum(ch.isalpha() for ch in word) >= 3 and word.upper() not in ACRONYMS:
            seen.setdefault(word, None)
    return list(seen)


def check_caps(email: Email, body: str) -> list[Finding]:
    findings = []
    in_subject = _shouted(email.subject)
    if in_subject:
        why = f"The subject shouts in capitals: {_quote(in_subject)}."
        findings.append(Finding("caps_subject", min(12, 4 * len(in_subject)), why))
    elsewhere = [w for w in _shouted(f"{email.preheader}\n{body}") if w not in in_subject]
    if elsewhere:
        why = f"Words in capitals look like shouting to filters: {_quote(elsewhere)}."
        findings.append(Finding("caps_words", min(10, 2 * len(elsewhere)), why))
    return findings


def check_punctuation(email: Email, body: str) -> list[Finding]:
    runs = _RUN.findall(f"{email.subject}\n{email.preheader}\n{body}")
    if not runs:
        return []
    why = f"{len(runs)} run(s) of “!”, “?” or “$” ({_quote(runs)}): one mark is enough."
    return [Finding("punctuation_runs", min(15, 5 * len(runs)), why)]


def check_placeholders(email: Email, body: str) -> list[Finding]:
    whole = f"{email.subject}\n{email.preheader}\n{body}\n{email.html}"
    broken: dict[str, None] = {}
    for pattern in _BROKEN_PLACEHOLDERS:
        for match in pattern.finditer(whole):
            broken.setdefault(match.group(0), None)
    if not broken:
        return []
    why = (
        f"Placeholders look broken: {_quote(broken)}. Write them exactly like "
        "{{first_name}}, or people receive the braces."
    )
    return [Finding("placeholders_broken", min(10, 5 * len(broken)), why)]


def check_unsubscribe(email: Email, body: str) -> list[Finding]:
    if _phrases_in(body, UNSUBSCRIBE_WORDS) or "{{unsubscribe" in email.html.lower():
        return []
    why = (
        "No unsubscribe line: CAN-SPAM requires a working opt-out, GDPR lets people withdraw "
        "consent as easily as they gave it, and Gmail and Yahoo require one-click unsubscribe "
        "from bulk senders. Add e.g. “Unsubscribe: {{unsubscribe_url}}”."
    )
    return [Finding("unsubscribe_missing", 15, why)]


def check_postal_address(email: Email, body: str) -> list[Finding]:
    if any(p.search(body) for p in _POSTAL):
        return []
    why = (
        "No postal address: CAN-SPAM requires your valid physical postal address (a PO box "
        "will do) in every marketing mail. Add it to the footer, or {{postal_address}}."
    )
    return [Finding("postal_address_missing", 10, why)]


def _host(url: str) -> str:
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def _is_ip(host: str) -> bool:
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _links(email: Email, doc: HtmlDocument) -> list[tuple[str, str]]:
    found = doc.links if email.html.strip() else [(u, u) for u in _URL.findall(email.text)]
    return [(href, text) for href, text in found if not _PLACEHOLDER.fullmatch(href)]


def check_links(email: Email, doc: HtmlDocument) -> list[Finding]:
    links = _links(email, doc)
    findings = []
    if len(links) > TOO_MANY_LINKS:
        why = f"{len(links)} links: filters distrust mail that is mostly links. Keep to a few."
        findings.append(Finding("links_many", 10, why))
    elif len(links) > MANY_LINKS:
        why = f"{len(links)} links: keep to a few, with one main call to action."
        findings.append(Finding("links_many", 5, why))
    hosts = [_host(href) for href, _ in links if not href.lower().startswith("mailto:")]
    short = sorted({h for h in hosts if h in URL_SHORTENERS})
    if short:
        why = f"Shortened links ({_quote(short)}) hide where they go and are widely blocklisted."
        findings.append(Finding("links_shortened", 10, why))
    if any(_is_ip(h) for h in hosts):
        why = "A link points at a bare IP address: use your domain name."
        findings.append(Finding("links_ip", 10, why))
    return findings + _mismatches(links)


def _mismatches(links: list[tuple[str, str]]) -> list[Finding]:
    wrong: dict[str, None] = {}
    for href, text in links:
        shown = _DOMAIN_TEXT.match(text.strip())
        target = _host(href)
        if not shown or not target or href.lower().startswith("mailto:"):
            continue
        shown_host = shown.group(1).lower().removeprefix("www.")
        if target != shown_host and not target.endswith("." + shown_host):
            wrong.setdefault(f"{shown_host} → {target}", None)
    if not wrong:
        return []
    why = (
        f"Link text shows one address but the link goes to another ({_quote(wrong)}): "
        "this is how phishing looks, to filters and to people."
    )
    return [Finding("links_mismatch", min(30, 15 * len(wrong)), why)]


def check_images(email: Email, doc: HtmlDocument) -> list[Finding]:
    if not doc.images:
        return []
    findings = []
    if len(doc.text) < IMAGE_ONLY_TEXT_CHARS:
        why = (
            "The HTML is images with almost no text: filters cannot read it and many inboxes "
            "block images. Write the message as text."
        )
        findings.append(Finding("image_only", 20, why))
    missing_alt = sum(1 for _, alt in doc.images if not (alt or "").strip())
    if missing_alt:
        why = f"{missing_alt} image(s) without alt text: say what each one shows."
        findings.append(Finding("images_no_alt", min(6, 2 * missing_alt), why))
    return findings


def check_text_part(email: Email, doc: HtmlDocument) -> list[Finding]:
    if email.html.strip() and not email.text.strip():
        why = "There is HTML but no plain-text version: send both (multipart/alternative)."
        return [Finding("text_missing", 5, why)]
    return []


TextCheck = Callable[[Email, str], list[Finding]]
DocCheck = Callable[[Email, HtmlDocument], list[Finding]]
LINE_CHECKS: tuple[TextCheck, ...] = (
    check_spam_phrases,
    check_phishing_language,
    check_caps,
    check_punctuation,
    check_placeholders,
)
BODY_CHECKS: tuple[TextCheck, ...] = (check_unsubscribe, check_postal_address)
DOC_CHECKS: tuple[DocCheck, ...] = (check_links, check_images, check_text_part)


def _report(findings: list[Finding]) -> LintReport:
    ordered = tuple(sorted(findings, key=lambda f: -f.points))
    return LintReport(max(0, 100 - sum(f.points for f in ordered)), ordered)


def lint_email(email: Email) -> LintReport:
    """Lint a whole email: subject, preheader, plain text and HTML."""
    doc = read_html(email.html) if email.html.strip() else HtmlDocument()
    body = f"{email.text}\n{doc.text}"
    findings: list[Finding] = []
    for check in (check_subject, check_preheader, *LINE_CHECKS, *BODY_CHECKS):
        findings += check(email, body)
    for doc_check in DOC_CHECKS:
        findings += doc_check(email, doc)
    return _report(findings)


def lint_subject(subject: str) -> LintReport:
    """Lint one subject line alone (to choose among variants)."""
    email = Email(subject=subject)
    findings = check_subject(email, "")
    for check in LINE_CHECKS:
        findings += check(email, "")
    return _report(findings)


def lint_line(line: str) -> LintReport:
    """Lint a preheader alone."""
    email = Email(preheader=line)
    findings = check_preheader(email, "")
    for check in LINE_CHECKS:
        findings += check(email, "")
    return _report(findings)
