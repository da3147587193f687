"""Fixtures of the provider client tests: each provider's lab fake on loopback, with accounts.

Every fake gets an account of ours and another account (whose secrets must never travel);
the providers are built through the registry, as the panel builds them. A `ProviderCase`
describes each provider for the contract tests (test_contract.py), which ask for `case`,
`provider` and `provider_fake` and so run once per provider; the per-provider fixtures
(`cloudflare`, `cloudflare_fake`, ...) serve the tests of what only that provider does.
"""

from __future__ import annotations

import base64
import getpass
import json
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from lab.providers.base import FakeProvider, RecordedRequest
from lab.providers.cloudflare import FakeCloudflare
from lab.providers.namecom import FakeNameCom
from lab.providers.openprovider import FakeOpenProvider
from lab.zonestore import Row, ZoneStore
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.http import RetryPolicy, basic_auth, user_agent
from mailpanel.dns.providers.openprovider.client import OpenProviderClient
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, Record, Zone

ZONE = "example.com"
SUBZONE = "mail.example.com"
OUR_ZONES = (ZONE, SUBZONE, "other.test")
OTHER_ZONE = "elsewhere.test"  # another account's
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
F = TypeVar("F", bound=FakeProvider)


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


def cloudflare_with_accounts(store: ZoneStore) -> FakeCloudflare:
    fake = FakeCloudflare(store)
    fake.add_account(CF_TOKEN, OUR_ZONES)
    fake.add_account(OTHER_SECRET, [OTHER_ZONE])
    return fake


def namecom_with_accounts(store: ZoneStore) -> FakeNameCom:
    fake = FakeNameCom(store)
    fake.add_account(NC_USER, NC_TOKEN, OUR_ZONES)
    fake.add_account("someone-else", OTHER_SECRET, [OTHER_ZONE])
    return fake


def openprovider_with_accounts(store: ZoneStore) -> FakeOpenProvider:
    fake = FakeOpenProvider(store)
    fake.add_account(OP_USER, OP_PASSWORD, OUR_ZONES)
    fake.add_account("someone-else", OTHER_SECRET, [OTHER_ZONE])
    return fake


def cloudflare_pages(fake: FakeCloudflare, size: int) -> None:
    fake.zones_max_per_page = fake.records_max_per_page = size


def namecom_pages(fake: FakeNameCom, size: int) -> None:
    fake.max_per_page = size


def openprovider_pages(fake: FakeOpenProvider, size: int) -> None:
    fake.max_limit = size


def quoted_in_255_byte_strings(value: str) -> str:
    """An ASCII TXT value as `"…" "…"`, 255 bytes a string (how Cloudflare keeps what we send)."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def bare(value: str) -> str:
    """A TXT value as we sent it (the provider quotes and splits it itself)."""
    return value


@dataclass(frozen=True)
class Refusal:
    """A request refused for wrong credentials, as the provider answers it."""

    method: str
    path: str  # below the fake's prefix
    status: int
    message: str


@dataclass(frozen=True)
class ProviderCase(Generic[F]):
    """What the contract tests need to know of one provider: how to reach its fake, and where
    it differs from the others (its wire, its words, its rules)."""

    name: str  # the registry key
    credentials: Mapping[str, str]
    with_accounts: Callable[[ZoneStore], F]  # the fake, ours and another account added
    limit_pages: Callable[[F, int], None]  # the fake's largest page of zones and records
    page_param: str  # the query parameter that moves through the pages
    # Its values when 12 records are listed 5 a page.
    record_pages: tuple[str, ...]
    public_zone_id: Callable[[Row], str]  # the zone id the provider shows for a stored zone
    record_ids: bool  # records are listed with the provider's own ids
    write_calls_to_create: Callable[[int], int]  # for that many new records
    duplicate_status: int
    duplicate_message: str  # a regular expression for the whole message
    wrong_credentials: tuple[Mapping[str, str], ...]
    refusals: tuple[Refusal, Refusal]  # of verify(), then of list_zones()
    auth_hint: str  # part of our hint on an auth error
    verify_call: tuple[str, str]  # method and path (below the prefix) of verify()
    stored_txt: Callable[[str], str]  # how the fake keeps a TXT value we sent
    ttl_rule: Mapping[int, int]  # a TTL asked for -> the TTL stored
    own_secrets: frozenset[str]  # the credentials that may travel (and nobody else's)
    authorization: re.Pattern[str]  # the Authorization header every authorized call carries


CLOUDFLARE = ProviderCase(
    name="cloudflare",
    credentials={"token": CF_TOKEN},
    with_accounts=cloudflare_with_accounts,
    limit_pages=cloudflare_pages,
    page_param="page",
    record_pages=("1", "2", "3", "4"),  # the empty fourth page ends the listing
    public_zone_id=lambda zone: str(zone["id"]),
    record_ids=True,
    write_calls_to_create=lambda count: 1,  # one batch (of up to 200 changes)
    duplicate_status=400,
    duplicate_message=re.escape("An identical record already exists."),
    wrong_credentials=({"token": "wrong-token"},),
    refusals=(
        Refusal("GET", "/user/tokens/verify", 401, "Invalid API Token"),
        Refusal("GET", "/zones", 403, "Authentication error"),
    ),
    auth_hint="revoked or lacks DNS edit permission",
    verify_call=("GET", "/user/tokens/verify"),
    stored_txt=quoted_in_255_byte_strings,
    ttl_rule={1: 1, 30: 60, 60: 60, 300: 300, 86400: 86400, 100_000: 86400},  # 1 is automatic
    own_secrets=frozenset({CF_TOKEN}),
    authorization=re.compile(re.escape(f"Bearer {CF_TOKEN}")),
)
NAMECOM = ProviderCase(
    name="namecom",
    credentials={"username": NC_USER, "token": NC_TOKEN},
    with_accounts=namecom_with_accounts,
    limit_pages=namecom_pages,
    page_param="page",
    record_pages=("1", "2", "3"),  # nextPage is absent on the last page
    public_zone_id=lambda zone: str(zone["name"]),
    record_ids=True,
    write_calls_to_create=lambda count: count,  # one call a record
    duplicate_status=400,
    duplicate_message=re.escape("Invalid Argument: Parameter Value Error - Duplicate Record"),
    wrong_credentials=(
        {"username": NC_USER, "token": "wrong-token"},
        {"username": "nobody", "token": NC_TOKEN},
    ),
    refusals=(
        Refusal("GET", "/hello", 401, "Unauthenticated"),
        Refusal("GET", "/domains", 401, "Unauthenticated"),
    ),
    auth_hint="check the Name.com username and API token",
    verify_call=("GET", "/hello"),
    stored_txt=bare,
    ttl_rule={1: 300, 60: 300, 300: 300, 86400: 86400, 100_000: 86400},
    own_secrets=frozenset({NC_USER, NC_TOKEN}),
    authorization=re.compile(re.escape(basic_auth(NC_USER, NC_TOKEN))),
)
OPENPROVIDER = ProviderCase(
    name="openprovider",
    credentials={"username": OP_USER, "password": OP_PASSWORD},
    with_accounts=openprovider_with_accounts,
    limit_pages=openprovider_pages,
    page_param="offset",
    record_pages=("0", "5", "10"),  # the total says when to stop
    public_zone_id=lambda zone: str(zone["id"]),
    record_ids=False,  # records are matched on their data
    write_calls_to_create=lambda count: 1,  # one zone update
    # An error with HTTP 200 and a non-zero code.
    duplicate_status=200,
    duplicate_message=f"Duplicate record: {re.escape(ZONE)} .+",
    wrong_credentials=(
        {"username": OP_USER, "password": "wrong-password"},
        {"username": "nobody", "password": OP_PASSWORD},
    ),
    # One refused login each, never a loop.
    refusals=(
        Refusal("POST", "/auth/login", 401, "Authentication/Authorization Failed"),
        Refusal("POST", "/auth/login", 401, "Authentication/Authorization Failed"),
    ),
    auth_hint="check the OpenProvider username and password",
    verify_call=("POST", "/auth/login"),  # a fresh login, whatever is cached
    stored_txt=bare,
    ttl_rule={1: 600, 300: 600, 600: 600, 86400: 86400, 100_000: 86400},
    own_secrets=frozenset({OP_USER, OP_PASSWORD}),
    authorization=re.compile(r"Bearer [0-9a-f]{40}"),  # the token of a login
)
CASES: dict[str, ProviderCase[Any]] = {
    case.name: case for case in (CLOUDFLARE, NAMECOM, OPENPROVIDER)
}


def connect(case: ProviderCase[Any], fake: FakeProvider) -> DnsProvider:
    """The provider built through the registry, as the panel builds it, against the fake."""
    return make_provider(case.name, case.credentials, fake.base_url, retry=FAST)


@pytest.fixture
def cloudflare_fake(store: ZoneStore) -> Iterator[FakeCloudflare]:
    with cloudflare_with_accounts(store) as fake:
        yield fake


@pytest.fixture
def namecom_fake(store: ZoneStore) -> Iterator[FakeNameCom]:
    with namecom_with_accounts(store) as fake:
        yield fake


@pytest.fixture
def openprovider_fake(store: ZoneStore) -> Iterator[FakeOpenProvider]:
    with openprovider_with_accounts(store) as fake:
        yield fake


@pytest.fixture
async def cloudflare(cloudflare_fake: FakeCloudflare) -> AsyncIterator[DnsProvider]:
    async with connect(CLOUDFLARE, cloudflare_fake) as provider:
        yield provider


@pytest.fixture
async def namecom(namecom_fake: FakeNameCom) -> AsyncIterator[DnsProvider]:
    async with connect(NAMECOM, namecom_fake) as provider:
        yield provider


@pytest.fixture
async def openprovider(openprovider_fake: FakeOpenProvider) -> AsyncIterator[DnsProvider]:
    async with connect(OPENPROVIDER, openprovider_fake) as provider:
        yield provider


# -- the contract: each test that asks for `case` runs once per provider --------------------


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> ProviderCase[Any]:
    return CASES[request.param]


@pytest.fixture
def provider_fake(case: ProviderCase[Any], store: ZoneStore) -> Iterator[FakeProvider]:
    with case.with_accounts(store) as fake:
        yield fake


@pytest.fixture
async def provider(
    case: ProviderCase[Any], provider_fake: FakeProvider
) -> AsyncIterator[DnsProvider]:
    async with connect(case, provider_fake) as connected:
        yield connected


# -- helpers --------------------------------------------------------------------------------


def create(name: str, rtype: str, content: str, ttl: int = 600, prio: int | None = None) -> Change:
    """A new record; the default TTL is one every provider keeps as it is."""
    return Change(Action.CREATE, after=Record(name, rtype, content, ttl, prio))


async def zone_of(provider: DnsProvider, name: str = ZONE) -> Zone:
    zone = await provider.find_zone(name)
    assert zone is not None and zone.name == name
    return zone


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


def assert_private(fake: FakeProvider, own: Set[str], authorization: re.Pattern[str]) -> None:
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
