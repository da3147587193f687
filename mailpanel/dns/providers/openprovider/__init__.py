"""OpenProvider REST API v1beta."""

from mailpanel.dns.providers.openprovider.provider import OpenProviderDns

__all__ = ["OpenProviderDns"]
