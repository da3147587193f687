"""The OpenProvider client against the lab's OpenProvider fake, over real sockets."""

from __future__ import annotations

import json
import re

import pytest

from lab.providers.openprovider import FakeOpenProvider
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record, Zone
from tests.dns.providers.conftest import (
    FAST,
    OP_PASSWORD,
    OP_USER,
    SUBZONE,
    ZONE,
    assert_private,
    dkim_value,
    reset,
    rows,
    seed_records,
    settled,
    statuses,
)

CREDENTIALS = {"username": OP_USER, "password": OP_PASSWORD}


def create(name: str, rtype: str, content: str, ttl: int = 600, prio: int | None = None) -> Change:
    return Change(Action.CREATE, after=Record(name, rtype, content, ttl, prio))


async def zone_of(provider: DnsProvider, name: str = ZONE) -> Zone:
    zone = await provider.find_zone(name)
    assert zone is not None and zone.name == name
    return zone


def puts(fake: FakeOpenProvider) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in settled(fake) if r.method == "PUT"]


async def test_it_lists_every_record_and_zone_across_pages(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    openprovider_fake.max_limit = 5
    names = seed_records(openprovider_fake, 12)
    openprovider_fake.add_zones(OP_USER, [f"zone{i}.test" for i in range(6)])

    zones = await openprovider.list_zones()
    records = await openprovider.list_records(await zone_of(openprovider))

    assert len(zones) == 9 and "elsewhere.test" not in {z.name for z in zones}
    assert {r.name for r in records} == names
    assert all(r.provider_id is None and r.ttl == 3600 for r in records)


async def test_find_zone_takes_the_longest_match(openprovider: DnsProvider) -> None:
    found = await openprovider.find_zone(f"smtp.{SUBZONE}")
    assert found is not None and found.name == SUBZONE and found.id.isdigit()


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


async def test_a_duplicate_create_is_refused_in_openproviders_words(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    zone = await zone_of(openprovider)
    await openprovider.apply(zone, [create(ZONE, "A", "192.0.2.1")])

    with pytest.raises(ProviderError) as caught:
        await openprovider.apply(zone, [create(ZONE, "A", "192.0.2.1")])

    assert caught.value.kind is ErrorKind.DUPLICATE
    assert caught.value.provider_message.startswith("Duplicate record")
    assert caught.value.status == 200  # an error with HTTP 200 and a non-zero code
    assert len(rows(openprovider_fake)) == 1


async def test_a_429_storm_is_ridden_out(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    zone = await zone_of(openprovider)
    reset(openprovider_fake)
    openprovider_fake.force_429 = 3

    result = await openprovider.apply(zone, [create(ZONE, "A", "192.0.2.1")])

    assert result.write_calls == 1
    assert statuses(openprovider_fake) == [429, 429, 429, 200]
    assert len(rows(openprovider_fake)) == 1


async def test_a_5xx_burst_on_reads_is_retried(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    openprovider_fake.max_limit = 4
    names = seed_records(openprovider_fake, 12)
    zone = await zone_of(openprovider)
    openprovider_fake.error_rate = 0.5

    records = await openprovider.list_records(zone)

    assert {r.name for r in records} == names
    assert any(status >= 500 for status in statuses(openprovider_fake))


async def test_wrong_credentials_are_an_auth_error(openprovider_fake: FakeOpenProvider) -> None:
    creds = {"username": OP_USER, "password": "wrong-password"}
    async with make_provider("openprovider", creds, openprovider_fake.base_url) as provider:
        with pytest.raises(ProviderError) as on_verify:
            await provider.verify()
        with pytest.raises(ProviderError) as on_list:
            await provider.list_zones()

    for caught in (on_verify, on_list):
        assert caught.value.kind is ErrorKind.AUTH
        assert caught.value.provider_message == "Authentication/Authorization Failed"
    assert openprovider_fake.login_count == 2  # one refused login each, never a loop


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
        async with make_provider(
            "openprovider", CREDENTIALS, openprovider_fake.base_url, retry=FAST
        ) as provider:
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


async def test_a_long_dkim_txt_round_trips(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    zone = await zone_of(openprovider)
    dkim = dkim_value()
    name = f"mail._domainkey.{ZONE}"

    await openprovider.apply(zone, [create(name, "TXT", dkim)])

    [row] = rows(openprovider_fake)
    assert row["content"] == dkim
    [record] = await openprovider.list_records(zone)  # served as two quoted strings
    assert (record.name, record.content) == (name, dkim)
    await openprovider.apply(zone, [Change(Action.DELETE, before=record)])
    assert rows(openprovider_fake) == []


async def test_ttl_below_600_is_raised_with_a_note(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    ttl, note = openprovider.normalize_ttl(300)
    assert ttl == 600 and note is not None and "600" in note

    await openprovider.apply(await zone_of(openprovider), [create(ZONE, "A", "192.0.2.1", 300)])

    assert rows(openprovider_fake)[0]["ttl"] == 600


async def test_requests_carry_only_our_credentials(
    openprovider: DnsProvider, openprovider_fake: FakeOpenProvider
) -> None:
    await openprovider.verify()
    zone = await zone_of(openprovider)
    await openprovider.apply(zone, [create(ZONE, "TXT", dkim_value())])
    await openprovider.list_records(zone)

    assert_private(openprovider_fake, {OP_USER, OP_PASSWORD}, re.compile(r"Bearer [0-9a-f]{40}"))
    logins = [r for r in settled(openprovider_fake) if r.path.endswith("/auth/login")]
    assert all("authorization" not in r.headers for r in logins)
    assert json.loads(logins[0].body) == {**CREDENTIALS, "ip": "0.0.0.0"}
