"""The DNS providers the panel speaks, by the name stored with an account's credentials."""

from __future__ import annotations

from collections.abc import Mapping

from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.cloudflare import CloudflareDns
from mailpanel.dns.providers.http import RetryPolicy
from mailpanel.dns.providers.namecom import NameComDns
from mailpanel.dns.providers.openprovider import OpenProviderDns
from mailpanel.dns.types import ErrorKind, ProviderError

PROVIDERS: dict[str, type[DnsProvider]] = {
    provider.name: provider for provider in (CloudflareDns, NameComDns, OpenProviderDns)
}


def make_provider(
    kind: str,
    credentials: Mapping[str, str],
    base_url: str | None = None,
    *,
    retry: RetryPolicy | None = None,
) -> DnsProvider:
    """A provider for one account: cloudflare {token}, namecom {username, token},
    openprovider {username, password}. `base_url` None means the provider's real API."""
    try:
        provider = PROVIDERS[kind]
    except KeyError:
        raise ValueError(f"unknown DNS provider {kind!r}") from None
    missing = [f for f in provider.credential_fields if not credentials.get(f)]
    if missing:
        message = f"{provider.title} needs: {', '.join(missing)}"
        raise ProviderError(ErrorKind.VALIDATION, message, "fill in every credential field")
    return provider.from_credentials(credentials, base_url=base_url, retry=retry)
