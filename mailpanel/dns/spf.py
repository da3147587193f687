"""SPF: merge the server's addresses into an existing record, and count its DNS lookups.

A domain may publish exactly one SPF record (two are a permanent error at every receiver),
and evaluating it may take at most 10 DNS lookups (RFC 7208 4.6.4). The panel therefore
merges rather than adds, and refuses a plan whose record would need more than 10 lookups.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

MAX_LOOKUPS = 10
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
QUALIFIERS = "+-~?"
MAX_DEPTH = 10
MAX_QUERIES = 40  # the walk stops asking DNS after this many TXT lookups
_NAME_END = re.compile(r"[:/=]")

# name -> the TXT strings (joined per record) published there; raises LookupError if none.
TxtResolver = Callable[[str], Awaitable[list[str]]]


def is_spf(value: str) -> bool:
    text = value.strip().lower()
    return text == "v=spf1" or text.startswith("v=spf1 ")


@dataclass(frozen=True)
class Term:
    text: str
    qualifier: str
    name: str  # mechanism or modifier name, lowercase
    argument: str
    modifier: bool

    @classmethod
    def parse(cls, text: str) -> Term:
        qualifier = text[0] if text[:1] in tuple(QUALIFIERS) else ""
        body = text[len(qualifier) :]
        name = _NAME_END.split(body, maxsplit=1)[0].lower()
        rest = body[len(name) :]
        modifier = rest.startswith("=")
        if modifier:
            argument = rest[1:]
        elif rest.startswith(":"):
            argument = rest[1:].split("/")[0]  # a:host/24: the host
        else:
            argument = ""
        return cls(text, qualifier, name, argument, modifier)


def terms_of(value: str) -> list[Term]:
    return [Term.parse(t) for t in value.split()[1:]]


@dataclass(frozen=True)
class SpfMerge:
    value: str
    existing: tuple[str, ...]  # the SPF records found, as published
    notes: tuple[str, ...] = ()
    ours: tuple[str, ...] = ()  # the terms the panel put there (and may take back later)


def merge_spf(
    existing: Sequence[str],
    ipv4: Sequence[str],
    ipv6: Sequence[str],
    ours: Sequence[str] = (),
) -> SpfMerge:
    """One SPF record that keeps every existing mechanism and also lets the server send.

    `ours` are the terms the panel added at its last apply: those the server no longer
    needs (an address it lost, a server the domain left) are taken out again; a term the
    owner wrote is never removed.
    """
    wanted = [f"ip4:{a}" for a in ipv4] + [f"ip6:{a}" for a in ipv6]
    if not existing:
        return SpfMerge(" ".join(["v=spf1", *wanted, "-all"]), (), ours=tuple(wanted))
    notes: list[str] = []
    body, tail = _combined(existing, notes)
    wanted_keys = {w.lower() for w in wanted}
    stale = [t for t in body if t.text.lower() in _keys(ours) and t.text.lower() not in wanted_keys]
    if stale:
        notes.append(
            "SPF: the panel takes back "
            + " ".join(t.text for t in stale)
            + ": it added them for addresses this server no longer has"
        )
    body = [t for t in body if t not in stale]
    missing = [w for w in wanted if not _covered(w.split(":", 1)[1], body)]
    kept_ours = [t.text for t in body if t.text.lower() in _keys(ours)]
    terms = [t.text for t in body] + missing + [t.text for t in tail]
    return SpfMerge(
        " ".join(["v=spf1", *terms]), tuple(existing), tuple(notes), tuple(kept_ours + missing)
    )


def _keys(terms: Sequence[str]) -> set[str]:
    return {t.lower() for t in terms}


STRICTNESS = {"-": 0, "~": 1, "?": 2, "+": 3, "": 3}  # an `all` without qualifier is +all


def _combined(existing: Sequence[str], notes: list[str]) -> tuple[list[Term], list[Term]]:
    """The mechanisms of every record, each once, and the one ending (`all` or `redirect=`).

    Nothing after an `all` is evaluated, so records are merged by their mechanisms with one
    ending last: merging by concatenation would silently drop the second record's senders.
    Several records end in the strictest `all` among them, whatever order the provider lists
    them in; a `redirect=` that gives way to an `all` becomes an `include:` (the same
    senders, the same one lookup), and each other modifier (`exp=`) is kept once.
    """
    body: list[Term] = []
    alls: list[Term] = []
    redirects: list[Term] = []
    for record in existing:
        for term in terms_of(record):
            if term.name == "all" and not term.modifier:
                alls.append(term)
            elif term.name == "redirect" and term.modifier:
                redirects.append(term)
            elif term.modifier and term.name in {t.name for t in body if t.modifier}:
                continue  # a modifier may appear once (RFC 7208 6)
            elif term.text.lower() not in {t.text.lower() for t in body}:
                body.append(term)
    if alls:
        ending = [min(alls, key=lambda t: STRICTNESS[t.qualifier])]
        body += [Term.parse(f"include:{r.argument}") for r in redirects]
    else:
        ending = redirects[:1]
    if len(existing) > 1:
        dropped = [t.text for t in [*alls, *redirects] if t not in ending]
        notes.append(
            f"{len(existing)} SPF records were published (a permanent error at receivers): "
            "the plan merges them into one"
            + (f", ending in {ending[0].text} (merged: {' '.join(dropped)})" if dropped else "")
        )
    return body, ending


def _covered(address: str, terms: list[Term]) -> bool:
    ip = ipaddress.ip_address(address)
    for term in terms:
        if term.name not in ("ip4", "ip6") or term.qualifier not in ("", "+"):
            continue
        try:
            if ip in ipaddress.ip_network(term.text.split(":", 1)[1], strict=False):
                return True
        except (ValueError, IndexError):
            continue
    return False


def all_qualifier(value: str) -> str | None:
    found = next((t for t in terms_of(value) if t.name == "all" and not t.modifier), None)
    return (found.qualifier or "+") if found else None


@dataclass
class LookupCount:
    """DNS lookups an evaluation of the record needs, with what could not be followed."""

    total: int = 0
    path: list[str] = field(default_factory=list)  # "include:x (3)" per counted term
    problems: list[str] = field(default_factory=list)
    queries: int = 0

    @property
    def over_limit(self) -> bool:
        return self.total > MAX_LOOKUPS


async def count_lookups(value: str, resolve: TxtResolver) -> LookupCount:
    """Count include/a/mx/ptr/exists/redirect, following include and redirect recursively."""
    count = LookupCount()
    await _walk(value, resolve, count, depth=0, seen=set())
    return count


async def _walk(
    value: str, resolve: TxtResolver, count: LookupCount, depth: int, seen: set[str]
) -> None:
    terms = terms_of(value)
    has_all = any(t.name == "all" and not t.modifier for t in terms)
    for term in terms:
        follows = term.name == "include" or (term.name == "redirect" and term.modifier)
        if term.name == "redirect" and (has_all or not term.modifier):
            continue  # redirect is ignored when the record has an `all`
        if term.name not in LOOKUP_MECHANISMS and not follows:
            continue
        count.total += 1
        count.path.append(f"{'  ' * depth}{term.text}")
        if follows and not count.over_limit:
            await _follow(term.argument.lower().rstrip("."), resolve, count, depth, seen)


async def _follow(
    target: str, resolve: TxtResolver, count: LookupCount, depth: int, seen: set[str]
) -> None:
    if "%" in target:
        count.problems.append(f"{target} uses macros: not followed (counted once)")
        return
    if target in seen or depth >= MAX_DEPTH or count.queries >= MAX_QUERIES:
        count.problems.append(f"{target}: include loop or too deep, not followed")
        return
    count.queries += 1
    try:
        records = [r for r in await resolve(target) if is_spf(r)]
    except LookupError as exc:
        count.problems.append(f"{target} could not be looked up ({exc}): receivers fail it")
        return
    if len(records) != 1:
        what = "no SPF record" if not records else f"{len(records)} SPF records"
        count.problems.append(f"{target} has {what}: receivers fail it")
        return
    await _walk(records[0], resolve, count, depth + 1, seen | {target})
