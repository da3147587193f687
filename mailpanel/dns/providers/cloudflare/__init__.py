"""Cloudflare API v4."""

from mailpanel.dns.providers.cloudflare.provider import CloudflareDns

__all__ = ["CloudflareDns"]
