"""The Name.com client against the lab's Name.com fake, over real sockets."""

from __future__ import annotations

import re
import time

import pytest

from lab.providers.namecom import FakeNameCom
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.http import basic_auth
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record, Zone
from tests.dns.providers.conftest import (
    NC_TOKEN,
    NC_USER,
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


def create(name: str, rtype: str, content: str, ttl: int = 300, prio: int | None = None) -> Change:
    return Change(Action.CREATE, after=Record(name, rtype, content, ttl, prio))


async def zone_of(provider: DnsProvider, name: str = ZONE) -> Zone:
    zone = await provider.find_zone(name)
    assert zone is not None and zone.name == name
    return zone


def writes(fake: FakeNameCom) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in settled(fake) if r.method != "GET"]


async def test_it_lists_every_record_and_domain_across_pages(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    namecom_fake.max_per_page = 5
    names = seed_records(namecom_fake, 12)
    namecom_fake.add_zones(NC_USER, [f"zone{i}.test" for i in range(6)])

    zones = await namecom.list_zones()
    reset(namecom_fake)
    records = await namecom.list_records(await zone_of(namecom))

    assert len(zones) == 9 and "elsewhere.test" not in {z.name for z in zones}
    assert {r.name for r in records} == names
    record_pages = [r.query["page"] for r in settled(namecom_fake) if "records" in r.path]
    assert record_pages == ["1", "2", "3"]  # nextPage is absent on the last page


async def test_find_zone_takes_the_longest_match(namecom: DnsProvider) -> None:
    found = await namecom.find_zone(f"smtp.{SUBZONE}")
    assert found is not None and found.name == SUBZONE
    assert await namecom.find_zone("example.org") is None


async def test_it_creates_updates_and_deletes_with_single_calls(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    zone = await zone_of(namecom)
    created = await namecom.apply(
        zone,
        [
            create(ZONE, "A", "192.0.2.10"),
            create(ZONE, "MX", f"mail.{ZONE}", 300, 0),
            create(ZONE, "TXT", "v=spf1 mx -all"),
            create(f"srv._tcp.{ZONE}", "SRV", f"5 443 mail.{ZONE}", 300, 10),
        ],
    )
    assert (created.changes, created.write_calls) == (4, 4)

    stored = {(r["name"], r["type"]): r for r in rows(namecom_fake)}
    assert stored[(ZONE, "MX")]["priority"] == 0 and stored[(ZONE, "A")]["ttl"] == 300
    listed = {r.key: r for r in await namecom.list_records(zone)}
    assert listed[(ZONE, "MX")].priority == 0  # Name.com leaves out a zero priority
    assert listed[(ZONE, "TXT")].content == "v=spf1 mx -all"
    assert listed[(f"srv._tcp.{ZONE}", "SRV")].content == f"5 443 mail.{ZONE}"
    assert listed[(f"srv._tcp.{ZONE}", "SRV")].priority == 10

    apex_a = listed[(ZONE, "A")]
    reset(namecom_fake)
    result = await namecom.apply(
        zone,
        [
            Change(Action.UPDATE, before=apex_a, after=Record(ZONE, "A", "192.0.2.11", 3600)),
            Change(Action.DELETE, before=listed[(ZONE, "TXT")]),
        ],
    )

    assert (result.write_calls, result.read_calls) == (2, 0)
    assert sorted(writes(namecom_fake)) == [("DELETE", 200), ("PUT", 200)]
    put = next(r for r in settled(namecom_fake) if r.method == "PUT")
    assert put.headers["content-type"] == "application/json"
    assert '"host": ""' in put.body or '"host":""' in put.body
    stored = {(r["name"], r["type"]): r for r in rows(namecom_fake)}
    assert (stored[(ZONE, "A")]["content"], stored[(ZONE, "A")]["ttl"]) == ("192.0.2.11", 3600)
    assert (ZONE, "TXT") not in stored
    after = {r.key: r for r in await namecom.list_records(zone)}
    assert after[(ZONE, "A")].provider_id == apex_a.provider_id


async def test_independent_calls_run_side_by_side(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    zone = await zone_of(namecom)
    namecom_fake.latency_s = 0.1
    changes = [create(f"h{i}.{ZONE}", "A", f"192.0.2.{i + 1}") for i in range(8)]

    started = time.monotonic()
    await namecom.apply(zone, changes)
    elapsed = time.monotonic() - started

    assert len(rows(namecom_fake)) == 8
    assert elapsed < 0.6  # one at a time would take 0.8 s


async def test_a_big_apply_stays_under_twenty_requests_a_second(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    zone = await zone_of(namecom)
    reset(namecom_fake)

    await namecom.apply(zone, [create(f"h{i}.{ZONE}", "A", "192.0.2.1") for i in range(25)])

    assert 429 not in statuses(namecom_fake)
    assert len(rows(namecom_fake)) == 25


async def test_a_duplicate_create_is_refused_in_namecoms_words(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    zone = await zone_of(namecom)
    await namecom.apply(zone, [create(ZONE, "A", "192.0.2.1")])

    with pytest.raises(ProviderError) as caught:
        await namecom.apply(zone, [create(ZONE, "A", "192.0.2.1")])

    assert caught.value.kind is ErrorKind.DUPLICATE
    assert "Duplicate Record" in caught.value.provider_message
    assert len(rows(namecom_fake)) == 1


async def test_a_429_storm_is_ridden_out(namecom: DnsProvider, namecom_fake: FakeNameCom) -> None:
    zone = await zone_of(namecom)
    reset(namecom_fake)
    namecom_fake.force_429 = 3

    changes = [create(f"h{i}.{ZONE}", "A", "192.0.2.1") for i in range(3)]
    result = await namecom.apply(zone, changes)

    assert result.write_calls == 3
    assert statuses(namecom_fake).count(429) == 3
    assert len(rows(namecom_fake)) == 3


async def test_a_5xx_burst_on_reads_is_retried(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    namecom_fake.max_per_page = 4
    names = seed_records(namecom_fake, 12)
    zone = await zone_of(namecom)
    namecom_fake.error_rate = 0.5

    records = await namecom.list_records(zone)

    assert {r.name for r in records} == names
    assert any(status >= 500 for status in statuses(namecom_fake))


@pytest.mark.parametrize("credentials", [(NC_USER, "wrong-token"), ("nobody", NC_TOKEN)])
async def test_wrong_credentials_are_an_auth_error(
    namecom_fake: FakeNameCom, credentials: tuple[str, str]
) -> None:
    user, token = credentials
    creds = {"username": user, "token": token}
    async with make_provider("namecom", creds, namecom_fake.base_url) as provider:
        with pytest.raises(ProviderError) as on_verify:
            await provider.verify()
        with pytest.raises(ProviderError) as on_list:
            await provider.list_zones()

    for caught in (on_verify, on_list):
        assert caught.value.kind is ErrorKind.AUTH
        assert caught.value.provider_message == "Unauthenticated"
        assert caught.value.status == 401


async def test_good_credentials_verify(namecom: DnsProvider) -> None:
    await namecom.verify()


async def test_a_long_dkim_txt_round_trips(namecom: DnsProvider, namecom_fake: FakeNameCom) -> None:
    zone = await zone_of(namecom)
    dkim = dkim_value()
    name = f"mail._domainkey.{ZONE}"

    await namecom.apply(zone, [create(name, "TXT", dkim)])

    [row] = rows(namecom_fake)
    assert row["content"] == dkim  # sent bare: Name.com quotes and splits TXT itself
    [record] = await namecom.list_records(zone)
    assert (record.name, record.content) == (name, dkim)


async def test_ttl_below_the_minimum_is_raised(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    ttl, note = namecom.normalize_ttl(60)
    assert ttl == 300 and note is not None

    await namecom.apply(await zone_of(namecom), [create(ZONE, "A", "192.0.2.1", 60)])

    assert rows(namecom_fake)[0]["ttl"] == 300


async def test_requests_carry_only_our_credentials(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    await namecom.verify()
    zone = await zone_of(namecom)
    await namecom.apply(zone, [create(ZONE, "TXT", dkim_value())])
    [record] = await namecom.list_records(zone)
    await namecom.apply(zone, [Change(Action.DELETE, before=record)])

    expected = re.compile(re.escape(basic_auth(NC_USER, NC_TOKEN)))
    assert_private(namecom_fake, {NC_USER, NC_TOKEN}, expected)
