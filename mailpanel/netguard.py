"""Which addresses the panel connects to on a user's behalf.

A user types a server's host; without a guard the panel would open connections to its own
loopback services, to the cloud's metadata endpoint or to link-local neighbours for them, and
the error text would map those ports. Loopback, link-local (metadata included), multicast,
unspecified and reserved addresses are refused, and so are private ranges, except the
networks the operator allows in ``SERVER_NETWORKS_ALLOWED`` (by default the private ranges,
where self-hosters' LANs live). Names are resolved and checked when the form is saved and
again at connect time, and the connection goes to the very address that was checked, so a
name that rebinds between the two cannot switch it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from functools import cache

from django.conf import settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What each kind of address is called in the refusal, so the user sees why.
REFUSED_KINDS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
    ("fe80::/10", "a link-local address"),
    ("fd00:ec2::254/128", "a cloud metadata address"),
    ("100.100.100.200/32", "a cloud metadata address"),
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("fc00::/7", "a private (unique local) address"),
)


class AddressRefused(Exception):
    """The host is, or resolves to, an address the panel does not connect to."""


@cache
def _refused() -> tuple[tuple[IpNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in REFUSED_KINDS)


def allowed_networks() -> list[IpNetwork]:
    return [ipaddress.ip_network(net, strict=False) for net in settings.SERVER_NETWORKS_ALLOWED]


def refusal(address: IpAddress) -> str | None:
    """Why ``address`` is refused, or None when the panel may connect to it."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in net for net in allowed_networks() if net.version == address.version):
        return None
    for net, kind in _refused():
        if net.version == address.version and address in net:
            return kind
    return None


def check_address(host: str, address: str) -> IpAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    kind = refusal(ip)
    if kind is not None:
        shown = host if host == str(ip) else f"{host} ({ip})"
        raise AddressRefused(
            f"{shown} is {kind}: the panel does not connect there. An operator can allow the "
            "network with MAILPANEL_SERVER_NETWORKS_ALLOWED."
        )
    return ip


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_host(host: str) -> None:
    """Refuse a host that is, or now resolves to, a refused address (the form's check).

    A name that does not resolve yet passes: it is checked again when the panel connects.
    """
    if (ip := _literal(host)) is not None:
        check_address(host, str(ip))
        return
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return
    for info in infos:
        check_address(host, str(info[4][0]))


async def connectable_address(host: str, port: int) -> str:
    """The one address to connect to for ``host``: every address it resolves to is checked,
    and the caller connects to the returned literal, never to the name again."""
    if (ip := _literal(host)) is not None:
        return str(check_address(host, str(ip)))
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} has no address")
    checked = [check_address(host, str(info[4][0])) for info in infos]
    return str(checked[0])
