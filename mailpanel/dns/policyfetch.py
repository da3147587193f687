"""Fetch a domain's MTA-STS policy as a sender does: over HTTPS to mta-sts.<domain>, trusted.

Names resolve through the panel's configured resolvers (never the system's), and the
certificate must verify for the name against the system's CAs plus, for a private ACME CA
(the lab's), `MTA_STS_CA_BUNDLE`.
"""

from __future__ import annotations

import asyncio
import ssl

import dns.asyncresolver
import dns.exception
from django.conf import settings

PATH = "/.well-known/mta-sts.txt"
MAX_BYTES = 64 * 1024  # RFC 8461 3.3: senders may stop reading a policy larger than this
TIMEOUT_S = 10.0


class PolicyUnavailable(Exception):
    pass


def trust() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.MTA_STS_CA_BUNDLE:
        context.load_verify_locations(cafile=settings.MTA_STS_CA_BUNDLE)
    return context


async def fetch_policy(domain: str, resolver: dns.asyncresolver.Resolver) -> str:
    """The policy text served for `domain`; PolicyUnavailable says why there is none."""
    host = f"mta-sts.{domain}"
    try:
        answer = await resolver.resolve(host, "A")
    except dns.exception.DNSException as exc:
        raise PolicyUnavailable(f"{host} does not resolve ({type(exc).__name__})") from exc
    address = answer[0].to_text()
    try:
        return await asyncio.wait_for(_get(address, host), TIMEOUT_S)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise PolicyUnavailable(f"https://{host}{PATH}: {exc or type(exc).__name__}") from exc


async def _get(address: str, host: str) -> str:
    reader, writer = await asyncio.open_connection(address, 443, ssl=trust(), server_hostname=host)
    try:
        request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        raw = b""
        while len(raw) <= MAX_BYTES and (chunk := await reader.read(65536)):
            raw += chunk
    finally:
        writer.close()
    head, _, body = raw.decode("utf-8", "replace").partition("\r\n\r\n")
    status, *headers = head.split("\r\n")
    if not status.startswith("HTTP/1.1 200"):
        raise PolicyUnavailable(f"https://{host}{PATH} answered {status or 'nothing'}")
    if not any(h.lower().replace(" ", "").startswith("content-type:text/plain") for h in headers):
        raise PolicyUnavailable(f"https://{host}{PATH} is not served as text/plain")
    return body
