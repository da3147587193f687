"""Which of a user's DNS accounts holds the zone of a name, as the accounts last listed them.

Linking a domain to a zone and proving control of a domain both ask it, so it is answered
here once, from the database (an account's zones are listed when it is tested).
"""

from __future__ import annotations

from mailpanel.dns.models import DnsAccount
from mailpanel.dns.providers.base import in_zone


def zone_containing(owner_id: int, name: str) -> tuple[DnsAccount, str] | None:
    """The longest zone that is `name` or a parent of it among the owner's accounts."""
    best: tuple[DnsAccount, str] | None = None
    for account in DnsAccount.objects.filter(owner_id=owner_id):
        for zone in account.zones:
            zone_name = str(zone.get("name", ""))
            if in_zone(name, zone_name) and (best is None or len(zone_name) > len(best[1])):
                best = (account, zone_name)
    return best
