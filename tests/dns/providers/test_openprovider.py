"""What only the OpenProvider client does, against the lab's OpenProvider fake over real sockets:
one zone update per apply, login tokens cached, renewed when expired, never shared with a
wrong password.

What every provider does alike is in test_contract.py.
"""

from __future__ import annotations

import json

import pytest

from lab.providers.openprovider import FakeOpenProvider
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record
from tests.dns.providers.conftest import (
    OP_USER,
    OPENPROVIDER,
    ZONE,
    connect,
    create,
    reset,
    rows,
    settled,
    zone_of,
)


def puts(fake: FakeOpenProvider) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in settled(fake) if r.method == "PUT"]


async def test_each_apply_is_exactly_one_zone_update(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    zone = await zone_of(openprovider)
    created = await openprovider.apply(
        zone,
        [
            create(ZONE, "A", "192.0.2.10"),
            create(ZONE, "MX", f"mail.{ZONE}", 600, 10),
            create(f"_dmarc.{ZONE}", "TXT", "v=DMARC1; p=reject"),
        ],
    )
    assert (created.write_calls, len(puts(openprovider_fake))) == (1, 1)
    [body] = puts(openprovider_fake)
    assert {(r["name"], r["prio"]) for r in body["records"]["add"]} == {  # type: ignore[index]
        ("", 0),
        ("", 10),
        ("_dmarc", 0),
    }

    listed = {r.key: r for r in await openprovider.list_records(zone)}
    assert listed[(f"_dmarc.{ZONE}", "TXT")].content == "v=DMARC1; p=reject"  # was quoted
    assert (listed[(ZONE, "MX")].content, listed[(ZONE, "MX")].priority) == (f"mail.{ZONE}", 10)
    assert listed[(ZONE, "A")].priority is None

    new_a = Record(ZONE, "A", "192.0.2.11", 900)
    reset(openprovider_fake)
    updated = await openprovider.apply(
        zone,
        [
            Change(Action.UPDATE, before=listed[(ZONE, "A")], after=new_a),
            Change(Action.DELETE, before=listed[(f"_dmarc.{ZONE}", "TXT")]),
            create(f"www.{ZONE}", "CNAME", ZONE),
        ],
    )

    assert (updated.write_calls, updated.read_calls, len(puts(openprovider_fake))) == (1, 0, 1)
    stored = {(r["name"], r["type"]): r for r in rows(openprovider_fake)}
    assert (stored[(ZONE, "A")]["content"], stored[(ZONE, "A")]["ttl"]) == ("192.0.2.11", 900)
    assert (f"_dmarc.{ZONE}", "TXT") not in stored
    assert stored[(f"www.{ZONE}", "CNAME")]["content"] == ZONE
    after = {r.key for r in await openprovider.list_records(zone)}
    assert after == {(ZONE, "A"), (ZONE, "MX"), (f"www.{ZONE}", "CNAME")}


async def test_a_wrong_password_never_gets_a_cached_token(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    await openprovider.list_zones()  # caches a token for the right password
    creds = {"username": OP_USER, "password": "wrong-password"}
    async with make_provider("openprovider", creds, openprovider_fake.base_url) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.list_zones()

    assert caught.value.kind is ErrorKind.AUTH


async def test_the_token_is_cached_across_provider_objects(
    openprovider_fake: FakeOpenProvider,
) -> None:
    for _ in range(2):
        async with connect(OPENPROVIDER, openprovider_fake) as provider:
            zone = await zone_of(provider)
            await provider.list_records(zone)

    assert openprovider_fake.login_count == 1


async def test_it_logs_in_again_when_the_session_expired(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    zone = await zone_of(openprovider)
    openprovider_fake.expire_sessions()

    result = await openprovider.apply(zone, [create(ZONE, "A", "192.0.2.1")])

    # The refused PUT was sent too, so it counts; it changed nothing at the provider.
    assert result.write_calls == 2 and openprovider_fake.login_count == 2
    assert [(r.method, r.status) for r in settled(openprovider_fake)[-3:]] == [
        ("PUT", 401),
        ("POST", 200),
        ("PUT", 200),
    ]
    assert len(rows(openprovider_fake)) == 1


async def test_verify_logs_in_afresh_and_keeps_the_token(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    await openprovider.list_zones()
    await openprovider.verify()  # a cached token would hide a password changed since
    await openprovider.list_zones()

    assert openprovider_fake.login_count == 2


async def test_a_login_sends_the_credentials_in_its_body_and_no_authorization(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    await openprovider.verify()
    await openprovider.list_zones()

    # One login: the token of verify() serves the listing.
    [login] = [r for r in settled(openprovider_fake) if r.path.endswith("/auth/login")]
    assert login.status == 200 and "authorization" not in login.headers
    assert json.loads(login.body) == {**OPENPROVIDER.credentials, "ip": "0.0.0.0"}
