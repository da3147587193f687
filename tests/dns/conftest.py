"""DNS app tests: the three provider fakes and the lab's DNS server, in this process.

The fakes write to one zone store and the DNS server answers from it, so a record the
panel creates through a provider's API is answered by 127.0.0.1 at once, as in the lab.
Accounts here mirror the lab's: example.test and shop.test at Cloudflare, namecom.test at
Name.com, openprovider.test at OpenProvider; each fake also has another customer whose
credential must never travel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.dnsserver import DnsServer
from lab.providers.base import FakeProvider
from lab.providers.cloudflare import FakeCloudflare
from lab.providers.namecom import FakeNameCom
from lab.providers.openprovider import FakeOpenProvider
from lab.zonestore import ZoneStore
from mailpanel.dns.providers.openprovider.client import OpenProviderClient

CF_TOKEN = "cfToken0123456789abcdefghijklmnopqrstuv"
NC_USER, NC_TOKEN = "nc-panel-user", "ncToken0123456789abcdef"
OP_USER, OP_PASSWORD = "op-panel-user", "op-Password-0123"
OTHER_SECRET = "someoneElsesSecret0123456789abcdefgh"
CREDENTIALS = {
    "cloudflare": {"token": CF_TOKEN},
    "namecom": {"username": NC_USER, "token": NC_TOKEN},
    "openprovider": {"username": OP_USER, "password": OP_PASSWORD},
}
ZONES = {
    "cloudflare": ["example.test", "shop.test", "big.test"],
    "namecom": ["namecom.test"],
    "openprovider": ["openprovider.test"],
}
ZONE_OF = {
    "cloudflare": "example.test",
    "namecom": "namecom.test",
    "openprovider": "openprovider.test",
}
PROVIDERS = tuple(ZONE_OF)


@dataclass
class Fakes:
    cloudflare: FakeCloudflare
    namecom: FakeNameCom
    openprovider: FakeOpenProvider
    store: ZoneStore

    def __getitem__(self, kind: str) -> FakeProvider:
        fake: FakeProvider = getattr(self, kind)
        return fake

    def all(self) -> list[FakeProvider]:
        return [self.cloudflare, self.namecom, self.openprovider]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.sqlite") as zone_store:
        yield zone_store


@pytest.fixture
def fakes(store: ZoneStore, settings: Any) -> Iterator[Fakes]:
    """The fakes, rate limits as the real providers have them, and the panel pointed at them."""
    OpenProviderClient.forget_tokens()
    cloudflare, namecom = FakeCloudflare(store), FakeNameCom(store)
    openprovider = FakeOpenProvider(store)
    cloudflare.add_account(CF_TOKEN, ZONES["cloudflare"])
    cloudflare.add_account(OTHER_SECRET, ["elsewhere.test"])
    namecom.add_account(NC_USER, NC_TOKEN, ZONES["namecom"])
    namecom.add_account("someone-else", OTHER_SECRET, ["elsewhere-nc.test"])
    openprovider.add_account(OP_USER, OP_PASSWORD, ZONES["openprovider"])
    openprovider.add_account("someone-else", OTHER_SECRET, ["elsewhere-op.test"])
    found = Fakes(cloudflare, namecom, openprovider, store)
    for fake in found.all():
        fake.start()
    settings.DNS_API_URLS = {kind: found[kind].base_url for kind in PROVIDERS}
    # The fakes' retry-after is at least 1 s: cap each wait so storms take milliseconds.
    settings.DNS_RETRY_AFTER_CAP_SECONDS = 0.02
    yield found
    for fake in found.all():
        fake.stop()
    OpenProviderClient.forget_tokens()


@pytest.fixture
def dns_server(store: ZoneStore, settings: Any) -> Iterator[DnsServer]:
    """The lab's DNS server on 127.0.0.1, and the panel's lookups pointed at it."""
    with DnsServer(store.path, "127.0.0.1", 0) as server:
        settings.DNS_RESOLVERS = [server.host]
        settings.DNS_RESOLVER_PORT = server.port
        settings.DNS_VERIFY_TIMEOUT_SECONDS = 5
        settings.DNS_VERIFY_MAX_INTERVAL_SECONDS = 0.5
        yield server


@pytest.fixture
def lab_like(fakes: Fakes, dns_server: DnsServer) -> Fakes:
    """Provider fakes and DNS together, as the lab has them."""
    return fakes
