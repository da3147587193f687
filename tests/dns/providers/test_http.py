"""The one door to DNS provider APIs: retries, waits, identity and secrets, against a lab fake."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lab.providers.base import Request, Response
from lab.providers.namecom import FakeNameCom
from lab.zonestore import ZoneStore
from mailpanel.dns.providers.http import (
    NOT_RETRIED_HINT,
    ProviderHttp,
    RetryPolicy,
    basic_auth,
    parse_retry_after,
    user_agent,
)
from mailpanel.dns.providers.namecom.client import parse_error
from mailpanel.dns.providers.registry import PROVIDERS, make_provider
from mailpanel.dns.types import ErrorKind, ProviderError
from tests.dns.providers.conftest import FAST, NC_TOKEN, NC_USER, ZONE, reset, settled

RECORD = {"host": "www", "type": "A", "answer": "192.0.2.1", "ttl": 300}


class EchoingFake(FakeNameCom):
    """A careless provider that repeats the credentials it was sent in its error message;
    `fail_next` answers that many requests 503 (before handling them)."""

    fail_next = 0

    def handle(self, req: Request) -> Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.error(503, "Service Unavailable")
        return super().handle(req)

    def authenticate(self, req: Request) -> Response | None:
        denied = super().authenticate(req)
        if denied is None:
            return None
        user, password = req.basic_auth() or ("", "")
        auth = req.headers.get("authorization", "")
        return self.error(401, f"Unauthenticated: {auth} user={user} password: {password}")


@pytest.fixture
def fake(store: ZoneStore) -> Iterator[EchoingFake]:
    fake = EchoingFake(store)
    fake.add_account(NC_USER, NC_TOKEN, [ZONE])
    with fake:
        yield fake


def door(base_url: str, retry: RetryPolicy = FAST, token: str = NC_TOKEN) -> ProviderHttp:
    return ProviderHttp(
        base_url,
        title="Name.com",
        parse_error=parse_error,
        secrets=[token],
        headers={"Authorization": basic_auth(NC_USER, token)},
        retry=retry,
        rng=random.Random(0),
    )


@pytest.fixture
async def http(fake: FakeNameCom) -> AsyncIterator[ProviderHttp]:
    client = door(fake.base_url)
    yield client
    await client.aclose()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v4"


# -- 429 ------------------------------------------------------------------------------------


async def test_retry_after_is_honoured(fake: FakeNameCom) -> None:
    fake.force_429, fake.retry_after_s = 1, 1
    client = door(fake.base_url, RetryPolicy())
    started = time.monotonic()
    try:
        await client.call("GET", "/hello")
    finally:
        await client.aclose()
    waited = time.monotonic() - started

    assert [r.status for r in settled(fake)] == [429, 200]
    assert 0.95 <= waited < 2.0


async def test_each_wait_is_capped(fake: FakeNameCom) -> None:
    fake.force_429, fake.retry_after_s = 1, 30
    client = door(fake.base_url, RetryPolicy(retry_after_cap_s=0.2))
    started = time.monotonic()
    try:
        await client.call("GET", "/hello")
    finally:
        await client.aclose()

    assert time.monotonic() - started < 1.0


async def test_a_wait_beyond_the_budget_gives_up_as_rate_limited(fake: FakeNameCom) -> None:
    fake.force_429, fake.retry_after_s = 5, 30
    client = door(fake.base_url, RetryPolicy(budget_s=5.0))
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await client.call("GET", "/hello")
    await client.aclose()

    assert caught.value.kind is ErrorKind.RATE_LIMITED and caught.value.status == 429
    assert len(settled(fake)) == 1 and time.monotonic() - started < 1.0


async def test_a_refused_post_is_sent_again_after_429(
    http: ProviderHttp, fake: FakeNameCom
) -> None:
    fake.force_429 = 2
    await http.call("POST", f"/domains/{ZONE}/records", json=RECORD)

    assert [r.status for r in settled(fake)] == [429, 429, 200]
    assert len(fake.store.records(fake.store.zones("namecom")[0]["id"])) == 1
    assert (http.counts.writes, http.counts.attempts) == (1, 3)


def test_retry_after_may_be_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(later, now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- 5xx and broken connections ---------------------------------------------------------------


async def test_reads_are_retried_a_bounded_number_of_times(fake: FakeNameCom) -> None:
    fake.error_rate = 1.0
    client = door(fake.base_url, RetryPolicy(max_attempts=3, backoff_base_s=0.05))
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await client.call("GET", "/hello")
    await client.aclose()

    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.provider_message == "Injected server error (lab fault injection)"
    assert len(settled(fake)) == 3
    assert time.monotonic() - started < 0.05 + 0.1 + 0.2  # at most base + 2 * base waited


async def test_a_post_is_not_retried_on_5xx(http: ProviderHttp, fake: FakeNameCom) -> None:
    fake.error_rate = 1.0
    with pytest.raises(ProviderError) as caught:
        await http.call("POST", f"/domains/{ZONE}/records", json=RECORD)

    assert len(settled(fake)) == 1
    assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.hint == NOT_RETRIED_HINT


async def test_an_idempotent_put_is_retried_on_5xx(http: ProviderHttp, fake: EchoingFake) -> None:
    await http.call("POST", f"/domains/{ZONE}/records", json=RECORD)
    record_id = fake.store.records(fake.store.zones("namecom")[0]["id"])[0]["id"]
    reset(fake)
    fake.fail_next = 2

    await http.call("PUT", f"/domains/{ZONE}/records/{record_id}", json={**RECORD, "ttl": 900})

    assert [r.status for r in settled(fake)] == [503, 503, 200]
    assert fake.store.record(record_id)["ttl"] == 900  # type: ignore[index]


async def test_an_unreachable_provider_is_unavailable_after_bounded_tries() -> None:
    client = door(closed_port_url(), RetryPolicy(max_attempts=3, backoff_base_s=0.01))
    with pytest.raises(ProviderError) as caught:
        await client.call("POST", "/domains")  # nothing was sent: safe to retry even a POST
    await client.aclose()

    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert "Name.com did not answer POST /v4/domains" in caught.value.provider_message
    assert client.counts.attempts == 3


def test_backoff_has_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff_base_s=0.2, backoff_cap_s=5.0)
    rng = random.Random(1)
    for retry in range(10):
        ceiling = min(5.0, 0.2 * 2**retry)
        delays = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not a fixed delay


# -- identity and secrets ---------------------------------------------------------------------


async def test_secrets_never_appear_in_errors(fake: FakeNameCom) -> None:
    client = door(fake.base_url, token="wrong-secret-token")
    with pytest.raises(ProviderError) as caught:
        await client.call("GET", "/hello")
    await client.aclose()

    error = caught.value
    text = " ".join([str(error), repr(error), error.provider_message, error.hint])
    assert "wrong-secret-token" not in text
    assert basic_auth(NC_USER, "wrong-secret-token").split()[1] not in text
    assert error.kind is ErrorKind.AUTH and error.provider_message.startswith("Unauthenticated")
    assert "[redacted]" in error.provider_message  # the echo was there, and scrubbed


async def test_secrets_never_appear_in_logs(
    fake: FakeNameCom, caplog: pytest.LogCaptureFixture
) -> None:
    fake.force_429 = 1
    client = door(fake.base_url, token=NC_TOKEN)
    with caplog.at_level("DEBUG"):
        await client.call("GET", "/hello")
    await client.aclose()

    assert "retrying" in caplog.text and NC_TOKEN not in caplog.text
    assert basic_auth(NC_USER, NC_TOKEN).split()[1] not in caplog.text


async def test_requests_carry_a_plain_user_agent_and_nothing_else(
    http: ProviderHttp, fake: FakeNameCom
) -> None:
    await http.call("POST", f"/domains/{ZONE}/records", json=RECORD)

    [request] = settled(fake)
    assert request.headers["user-agent"] == user_agent()
    assert user_agent().startswith("MailPanelPro/")
    assert set(request.headers) == {
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "authorization",
        "content-type",
        "content-length",
    }


def test_credentials_go_only_over_https_or_to_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        door("http://api.name.com/v4")
    door("https://api.name.com/v4")
    door("http://localhost:8080/v4")


# -- the registry ---------------------------------------------------------------------------


async def test_the_registry_builds_each_provider_for_the_real_api() -> None:
    credentials = {"token": "t", "username": "u", "password": "p"}
    for kind, provider_class in PROVIDERS.items():
        async with make_provider(kind, credentials) as provider:
            assert isinstance(provider, provider_class) and provider.name == kind
            assert provider.http.base_url == provider.default_base_url + "/"


def test_the_registry_refuses_missing_credentials_and_unknown_kinds() -> None:
    with pytest.raises(ProviderError) as caught:
        make_provider("namecom", {"username": "u"})
    assert caught.value.kind is ErrorKind.VALIDATION and "token" in caught.value.provider_message
    with pytest.raises(ValueError, match="unknown DNS provider"):
        make_provider("route53", {})
