"""Proof that a user controls a sending domain, asked before the panel signs for it or
publishes it (without it, anyone could put another tenant's domain on their own server).

Two proofs count: the domain's zone (the domain or a parent) is in one of the user's own DNS
accounts, or a TXT record `_mailpanel-verify.<domain>` holds `mailpanel-verify=<token>`, the
token derived from the SECRET_KEY and the user's id (so nothing is stored, and one user's
token says nothing about another's). The TXT record is asked of the configured resolvers.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.utils.crypto import salted_hmac

from mailpanel.dns.verify import txt_values
from mailpanel.dns.zones import zone_containing
from mailpanel.domains.models import SendingDomain, VerifiedBy
from mailpanel.names import domain_to_unicode
from mailpanel.servers.facts import resolver

TXT_LABEL = "_mailpanel-verify"
TXT_PREFIX = "mailpanel-verify="
HMAC_SALT = "mailpanel.domains.claims.token"
SHOWN_VALUES = 3


@dataclass(frozen=True)
class Proof:
    """What the check found: `method` is empty when nothing proves control."""

    method: str
    found: str

    @property
    def proven(self) -> bool:
        return bool(self.method)


@dataclass(frozen=True)
class Instructions:
    """The TXT record the owner publishes to prove control, shown on the domain's page."""

    name: str
    value: str


def token_for(user_id: int) -> str:
    return salted_hmac(HMAC_SALT, str(user_id), algorithm="sha256").hexdigest()[:32]


def instructions(domain: SendingDomain) -> Instructions:
    return Instructions(f"{TXT_LABEL}.{domain.name}", TXT_PREFIX + token_for(domain.owner_id))


def claimed_elsewhere(owner_id: int, name: str) -> bool:
    """Whether another user has proved control of `name` (an A-label)."""
    others = SendingDomain.objects.exclude(owner_id=owner_id)
    return others.filter(name=name, verified_at__isnull=False).exists()


def claimed_message(name: str) -> str:
    return (
        f"Another account has proved control of {domain_to_unicode(name)}, so it cannot be "
        "set up here. If the domain is yours, write to support."
    )


def account_proof(domain: SendingDomain) -> Proof | None:
    found = zone_containing(domain.owner_id, domain.name)
    if found is None:
        return None
    account, zone = found
    where = f"the zone {domain_to_unicode(zone)} in your DNS account “{account.label}”"
    return Proof(VerifiedBy.DNS_ACCOUNT, where)


def txt_proof(domain: SendingDomain) -> Proof:
    """Ask the resolvers for the TXT record; the proof says what they answered either way."""
    wanted = instructions(domain)
    try:
        values = async_to_sync(txt_values)(resolver(), wanted.name)
    except LookupError as exc:
        return Proof("", f"{wanted.name} has no TXT record for the resolvers ({exc})")
    if wanted.value in values:
        return Proof(VerifiedBy.TXT, f"the TXT record {wanted.name} with your token")
    seen = ", ".join(f"“{v[:100]}”" for v in values[:SHOWN_VALUES])
    return Proof("", f"{wanted.name} holds {seen}, not your token")


def check(domain: SendingDomain) -> Proof:
    """The DNS accounts first (no lookup needed), then the TXT record."""
    return account_proof(domain) or txt_proof(domain)
