"""Fixtures of the provider client tests: each provider's lab fake on loopback, with accounts.

Every fake gets an account of ours and another account (whose secrets must never travel);
the providers are built through the registry, as the panel builds them.
"""

from __future__ import annotations

import base64
import getpass
import json
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lab.providers.base import FakeProvider, RecordedRequest
from lab.providers.cloudflare import FakeCloudflare
from lab.providers.namecom import FakeNameCom
from lab.providers.openprovider import FakeOpenProvider
from lab.zonestore import Row, ZoneStore
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.http import RetryPolicy, user_agent
from mailpanel.dns.providers.openprovider.client import OpenProviderClient
from mailpanel.dns.providers.registry import make_provider

ZONE = "example.com"
SUBZONE = "mail.example.com"
CF_TOKEN = "cf-secret-token-0001"
NC_USER, NC_TOKEN = "nc-user-alpha", "nc-secret-token-0002"
OP_USER, OP_PASSWORD = "op-user-beta", "op-secret-password-0003"
OTHER_SECRET = "someone-elses-secret-9999"
ALL_CREDENTIALS = {CF_TOKEN, NC_USER, NC_TOKEN, OP_USER, OP_PASSWORD, OTHER_SECRET}
# Fast retries: the fakes' retry-after is at least 1 s; capping each wait keeps tests quick
# (honouring the full retry-after is measured in test_http.py).
FAST = RetryPolicy(backoff_base_s=0.01, backoff_cap_s=0.05, retry_after_cap_s=0.1, budget_s=10)
# Headers a request may carry: ours, and what HTTP itself needs.
ALLOWED_HEADERS = {
    "authorization",
    "user-agent",
    "accept",
    "content-type",
    "content-length",
    "host",
    "accept-encoding",
    "connection",
}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture(autouse=True)
def _no_cached_tokens() -> Iterator[None]:
    """OpenProvider tokens are cached process-wide: each test starts without any."""
    OpenProviderClient.forget_tokens()
    yield
    OpenProviderClient.forget_tokens()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.db") as zone_store:
        yield zone_store


@pytest.fixture
def cloudflare_fake(store: ZoneStore) -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare(store)
    fake.add_account(CF_TOKEN, [ZONE, SUBZONE, "other.test"])
    fake.add_account(OTHER_SECRET, ["elsewhere.test"])
    with fake:
        yield fake


@pytest.fixture
def namecom_fake(store: ZoneStore) -> Iterator[FakeNameCom]:
    fake = FakeNameCom(store)
    fake.add_account(NC_USER, NC_TOKEN, [ZONE, SUBZONE, "other.test"])
    fake.add_account("someone-else", OTHER_SECRET, ["elsewhere.test"])
    with fake:
        yield fake


@pytest.fixture
def openprovider_fake(store: ZoneStore) -> Iterator[FakeOpenProvider]:
    fake = FakeOpenProvider(store)
    fake.add_account(OP_USER, OP_PASSWORD, [ZONE, SUBZONE, "other.test"])
    fake.add_account("someone-else", OTHER_SECRET, ["elsewhere.test"])
    with fake:
        yield fake


@pytest.fixture
async def cloudflare(cloudflare_fake: FakeCloudflare) -> AsyncIterator[DnsProvider]:
    credentials = {"token": CF_TOKEN}
    async with make_provider("cloudflare", credentials, cloudflare_fake.base_url, retry=FAST) as p:
        yield p


@pytest.fixture
async def namecom(namecom_fake: FakeNameCom) -> AsyncIterator[DnsProvider]:
    credentials = {"username": NC_USER, "token": NC_TOKEN}
    async with make_provider("namecom", credentials, namecom_fake.base_url, retry=FAST) as p:
        yield p


@pytest.fixture
async def openprovider(openprovider_fake: FakeOpenProvider) -> AsyncIterator[DnsProvider]:
    credentials = {"username": OP_USER, "password": OP_PASSWORD}
    url = openprovider_fake.base_url
    async with make_provider("openprovider", credentials, url, retry=FAST) as p:
        yield p


# -- helpers --------------------------------------------------------------------------------


def zone_row(fake: FakeProvider, name: str = ZONE) -> Row:
    [zone] = [z for z in fake.store.zones(fake.provider) if z["name"] == name]
    return zone


def rows(fake: FakeProvider, name: str = ZONE) -> list[Row]:
    """The zone's records as the fake stored them."""
    return fake.store.records(zone_row(fake, name)["id"])


def seed_records(fake: FakeProvider, count: int, name: str = ZONE) -> set[str]:
    """`count` A records written straight to the store; returns their names."""
    zone_id = zone_row(fake, name)["id"]
    names = {f"host{i}.{name}" for i in range(count)}
    for i, host in enumerate(sorted(names)):
        fake.store.add_record(zone_id, host, "A", f"192.0.2.{i + 1}", 3600)
    return names


def dkim_value() -> str:
    """A DKIM record of a 2048-bit key: about 400 characters, longer than one TXT string."""
    key = base64.b64encode(random.Random(2048).randbytes(294)).decode()
    return f"v=DKIM1; k=rsa; p={key}"


def settled(fake: FakeProvider) -> list[RecordedRequest]:
    """The fake's request log once it stops growing.

    A fake logs a request just after sending its answer, so the client may hold the answer
    a moment before the entry exists.
    """
    count = -1
    while count != len(fake.requests):
        count = len(fake.requests)
        time.sleep(0.02)
    return list(fake.requests)


def reset(fake: FakeProvider) -> None:
    """Empty the request log, without a late entry of an earlier request slipping in after."""
    settled(fake)
    fake.reset_counters()


def statuses(fake: FakeProvider) -> list[int]:
    return [r.status for r in settled(fake)]


def assert_private(fake: FakeProvider, own: set[str], authorization: re.Pattern[str]) -> None:
    """Every request carries our own credential only: no one else's, no address, no user."""
    foreign = ALL_CREDENTIALS - own
    identities = {v for v in (getpass.getuser(), socket.gethostname()) if len(v) >= 5}
    requests = settled(fake)
    assert requests
    for request in requests:
        assert set(request.headers) <= ALLOWED_HEADERS, request.headers
        assert request.headers["user-agent"] == user_agent()
        if "authorization" in request.headers:
            assert authorization.fullmatch(request.headers["authorization"])
        sent = json.dumps([request.path, request.query, request.headers, request.body])
        assert not [secret for secret in foreign if secret in sent]
        assert not EMAIL.search(sent), sent
        assert not [name for name in identities if name in sent]
