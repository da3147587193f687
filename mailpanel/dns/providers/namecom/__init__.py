"""Name.com API v4."""

from mailpanel.dns.providers.namecom.provider import NameComDns

__all__ = ["NameComDns"]
