"""Names of the lab's machines in the lab DNS: hosts, services, reverse PTRs, the DNSBL.

The lab DNS server serves the static zones ``lab`` and ``in-addr.arpa`` from the zone
store's static records (see ``lab.dnsserver_data``); the lab writes them here when a host
or service starts:

- ``vpsN.lab`` A -> the host's address, and its PTR ``<reversed>.in-addr.arpa`` -> ``vpsN.lab``
  (forward-confirmed reverse DNS, as a receiving mail server checks it);
- ``ns.lab`` (the DNS server, 10.200.0.2) and ``mx.lab`` (the SMTP receiver, 10.200.0.3);
- the receiving domain ``receiver.test``, MX ``mx.lab``: mail to any address there reaches the
  lab SMTP receiver, which records it with its SPF, DKIM and DMARC verdicts;
- the DNSBL zone ``dnsbl.lab``: an address is listed by the static A record
  ``<reversed>.dnsbl.lab`` -> 127.0.0.2 (the usual "listed" answer, RFC 5782) plus a TXT
  reason; it is empty until a test lists an address (``Lab.dnsbl_list``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from lab.zonestore import ZoneStore

LAB_ZONE = "lab"
DNSBL_ZONE = "dnsbl.lab"
DNSBL_LISTED = "127.0.0.2"
SERVICE_NAMES = {"dns": "ns.lab", "mx": "mx.lab"}
RECEIVER_DOMAIN = "receiver.test"
TEST_RECIPIENT = f"you@{RECEIVER_DOMAIN}"


def host_name(name: str) -> str:
    """``vps1`` -> ``vps1.lab``."""
    return f"{name}.{LAB_ZONE}"


def reversed_octets(address: str) -> str:
    """``10.200.0.11`` -> ``11.0.200.10`` (the labels of a PTR or DNSBL name)."""
    return ".".join(reversed(str(ipaddress.IPv4Address(address)).split(".")))


def reverse_name(address: str) -> str:
    """``10.200.0.11`` -> ``11.0.200.10.in-addr.arpa``."""
    return f"{reversed_octets(address)}.in-addr.arpa"


def dnsbl_name(address: str, zone: str = DNSBL_ZONE) -> str:
    """``10.200.0.11`` -> ``11.0.200.10.dnsbl.lab``: the name a DNSBL check asks for."""
    return f"{reversed_octets(address)}.{zone}"


def add_machine(zone_db: Path, fqdn: str, address: str) -> None:
    """Publish ``fqdn`` A ``address`` and the matching PTR (replacing older records)."""
    with ZoneStore(zone_db) as store, store.transaction():
        store.remove_static(fqdn, "A")
        store.remove_static(reverse_name(address), "PTR")
        store.add_static(fqdn, "A", address)
        store.add_static(reverse_name(address), "PTR", fqdn)


def list_in_dnsbl(zone_db: Path, address: str, reason: str) -> str:
    """List ``address`` in the lab DNSBL; returns the name that now answers 127.0.0.2."""
    name = dnsbl_name(address)
    with ZoneStore(zone_db) as store, store.transaction():
        store.remove_static(name)
        store.add_static(name, "A", DNSBL_LISTED)
        store.add_static(name, "TXT", reason)
    return name


def delist_from_dnsbl(zone_db: Path, address: str) -> None:
    with ZoneStore(zone_db) as store:
        store.remove_static(dnsbl_name(address))


def add_receiver_domain(zone_db: Path) -> None:
    """The domain test mail goes to: its MX is the lab SMTP receiver (``mx.lab``)."""
    with ZoneStore(zone_db) as store:
        if store.zones(provider="lab", account="receiver"):
            return
        zone = store.create_zone("lab", "receiver", RECEIVER_DOMAIN)
        store.add_record(zone["id"], RECEIVER_DOMAIN, "MX", SERVICE_NAMES["mx"], 300, priority=10)
