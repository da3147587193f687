"""The Cloudflare client against the lab's Cloudflare fake, over real sockets."""

from __future__ import annotations

import re

import pytest

from lab.providers.base import Request, Response
from lab.providers.cloudflare import FakeCloudflare
from lab.zonestore import txt_strings, txt_value
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.cloudflare import CloudflareDns
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record, Zone
from tests.dns.providers.conftest import (
    CF_TOKEN,
    FAST,
    SUBZONE,
    ZONE,
    assert_private,
    dkim_value,
    reset,
    rows,
    seed_records,
    settled,
    statuses,
    zone_row,
)


def create(name: str, rtype: str, content: str, ttl: int = 300, prio: int | None = None) -> Change:
    return Change(Action.CREATE, after=Record(name, rtype, content, ttl, prio))


async def zone_of(provider: DnsProvider, name: str = ZONE) -> Zone:
    zone = await provider.find_zone(name)
    assert zone is not None and zone.name == name
    return zone


def batch_calls(fake: FakeCloudflare) -> int:
    return sum(1 for r in settled(fake) if r.path.endswith("/dns_records/batch"))


async def test_it_lists_every_record_across_pages(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    cloudflare_fake.records_max_per_page = 5
    names = seed_records(cloudflare_fake, 12)
    zone = await zone_of(cloudflare)
    reset(cloudflare_fake)

    records = await cloudflare.list_records(zone)

    assert {r.name for r in records} == names
    assert all(r.provider_id and r.ttl == 3600 for r in records)
    pages = [r.query["page"] for r in settled(cloudflare_fake)]
    assert pages == ["1", "2", "3", "4"]  # the empty fourth page ends the listing


async def test_it_lists_every_zone_and_finds_the_longest_match(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    cloudflare_fake.zones_max_per_page = 5
    account = zone_row(cloudflare_fake)["account"]
    cloudflare_fake.add_zones(account, [f"zone{i}.test" for i in range(6)])

    zones = await cloudflare.list_zones()

    assert len(zones) == 9 and len({z.id for z in zones}) == 9
    assert (await zone_of(cloudflare, SUBZONE)).name == SUBZONE
    found = await cloudflare.find_zone("Smtp.Mail.Example.com.")
    assert found is not None and found.name == SUBZONE
    assert await cloudflare.find_zone("example.org") is None
    assert await cloudflare.find_zone("elsewhere.test") is None  # another account's zone


async def test_it_creates_updates_and_deletes_in_one_batch_each(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    reset(cloudflare_fake)
    created = await cloudflare.apply(
        zone,
        [
            create(f"mail.{ZONE}", "A", "192.0.2.10"),
            create(ZONE, "MX", f"mail.{ZONE}", 1, 10),
            create(ZONE, "TXT", "v=spf1 mx -all"),
            create(f"www.{ZONE}", "CNAME", f"{ZONE}."),
        ],
    )
    assert (created.changes, created.write_calls, batch_calls(cloudflare_fake)) == (4, 1, 1)

    listed = {r.key: r for r in await cloudflare.list_records(zone)}
    assert listed[(ZONE, "MX")].content == f"mail.{ZONE}"
    assert listed[(ZONE, "MX")].priority == 10 and listed[(ZONE, "MX")].ttl == 1
    assert listed[(ZONE, "TXT")].content == "v=spf1 mx -all"
    assert listed[(f"www.{ZONE}", "CNAME")].content == ZONE

    a_record = listed[(f"mail.{ZONE}", "A")]
    changes = [
        Change(Action.UPDATE, before=a_record, after=Record(a_record.name, "A", "192.0.2.11", 600)),
        Change(Action.DELETE, before=listed[(ZONE, "TXT")]),
    ]
    reset(cloudflare_fake)
    updated = await cloudflare.apply(zone, changes)

    assert (updated.write_calls, updated.read_calls, batch_calls(cloudflare_fake)) == (1, 0, 1)
    stored = {(r["name"], r["type"]): r for r in rows(cloudflare_fake)}
    assert stored[(f"mail.{ZONE}", "A")]["content"] == "192.0.2.11"
    assert stored[(f"mail.{ZONE}", "A")]["ttl"] == 600
    assert (ZONE, "TXT") not in stored and len(stored) == 3
    after = {r.key: r for r in await cloudflare.list_records(zone)}
    assert after[(f"mail.{ZONE}", "A")].provider_id == a_record.provider_id


async def test_records_without_ids_are_looked_up_once(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    seed_records(cloudflare_fake, 2)
    before = Record(f"host0.{ZONE}", "A", "192.0.2.1", 3600)

    result = await cloudflare.apply(zone, [Change(Action.DELETE, before=before)])

    assert (result.read_calls, result.write_calls) == (2, 1)  # one page and the empty one
    assert [r["name"] for r in rows(cloudflare_fake)] == [f"host1.{ZONE}"]


async def test_a_big_change_set_is_sent_in_chunks_of_the_batch_limit(
    cloudflare_fake: FakeCloudflare,
) -> None:
    cloudflare_fake.batch_limit = 3
    changes = [create(f"h{i}.{ZONE}", "A", f"192.0.2.{i + 1}") for i in range(7)]
    async with CloudflareDns(
        CF_TOKEN, base_url=cloudflare_fake.base_url, retry=FAST, batch_limit=3
    ) as provider:
        result = await provider.apply(await zone_of(provider), changes)

    assert result.write_calls == 3 and batch_calls(cloudflare_fake) == 3
    assert len(rows(cloudflare_fake)) == 7


class FakeCloudflareWithoutBatch(FakeCloudflare):
    """An API version without the batch endpoint: it answers 404 as for any unknown route."""

    def _batch(self, req: Request) -> Response:
        return self.error(404, f"No route for POST {self.prefix}{req.path}", 7000)


async def test_it_falls_back_to_single_calls_when_batch_is_missing(
    cloudflare_fake: FakeCloudflare,
) -> None:
    fake = FakeCloudflareWithoutBatch(cloudflare_fake.store)
    fake.add_account(CF_TOKEN)
    seed_records(fake, 2)
    with fake:
        async with make_provider("cloudflare", {"token": CF_TOKEN}, fake.base_url) as provider:
            zone = await zone_of(provider)
            [first, second] = await provider.list_records(zone)
            changes = [
                create(f"new.{ZONE}", "A", "192.0.2.50"),
                Change(Action.UPDATE, before=first, after=Record(first.name, "A", "192.0.2.9", 60)),
                Change(Action.DELETE, before=second),
            ]
            reset(fake)
            result = await provider.apply(zone, changes)

    assert [(r.method, r.status) for r in settled(fake)] == [
        ("POST", 404),
        ("DELETE", 200),
        ("PATCH", 200),
        ("POST", 200),
    ]
    assert result.write_calls == 4
    stored = {r["name"]: (r["content"], r["ttl"]) for r in rows(fake)}
    assert stored == {first.name: ("192.0.2.9", 60), f"new.{ZONE}": ("192.0.2.50", 300)}


async def test_a_duplicate_create_is_refused_in_cloudflares_words(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    await cloudflare.apply(zone, [create(ZONE, "TXT", "v=spf1 -all")])

    with pytest.raises(ProviderError) as caught:
        await cloudflare.apply(zone, [create(ZONE, "TXT", "v=spf1 -all")])

    assert caught.value.kind is ErrorKind.DUPLICATE
    assert caught.value.provider_message == "An identical record already exists."
    assert len(rows(cloudflare_fake)) == 1


async def test_a_429_storm_is_ridden_out(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    reset(cloudflare_fake)
    cloudflare_fake.force_429 = 3

    result = await cloudflare.apply(zone, [create(f"a.{ZONE}", "A", "192.0.2.1")])

    assert result.write_calls == 1
    assert statuses(cloudflare_fake) == [429, 429, 429, 200]
    assert [r["name"] for r in rows(cloudflare_fake)] == [f"a.{ZONE}"]


async def test_a_5xx_burst_on_reads_is_retried(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    cloudflare_fake.records_max_per_page = 5
    names = seed_records(cloudflare_fake, 12)
    zone = await zone_of(cloudflare)
    cloudflare_fake.error_rate = 0.5

    records = await cloudflare.list_records(zone)

    assert {r.name for r in records} == names
    assert any(status >= 500 for status in statuses(cloudflare_fake))


async def test_wrong_credentials_are_an_auth_error(cloudflare_fake: FakeCloudflare) -> None:
    async with make_provider("cloudflare", {"token": "wrong-token"}, cloudflare_fake.base_url) as p:
        with pytest.raises(ProviderError) as on_verify:
            await p.verify()
        with pytest.raises(ProviderError) as on_list:
            await p.list_zones()

    assert on_verify.value.kind is ErrorKind.AUTH
    assert on_verify.value.provider_message == "Invalid API Token"
    assert on_list.value.kind is ErrorKind.AUTH
    assert on_list.value.provider_message == "Authentication error"
    assert "revoked or lacks DNS edit permission" in on_list.value.hint


async def test_good_credentials_verify(cloudflare: DnsProvider) -> None:
    await cloudflare.verify()


async def test_a_long_dkim_txt_round_trips_in_255_byte_strings(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    dkim = dkim_value()
    name = f"mail._domainkey.{ZONE}"

    await cloudflare.apply(zone, [create(name, "TXT", dkim)])

    [row] = rows(cloudflare_fake)
    assert row["content"].startswith('"') and txt_value(row["content"]) == dkim
    assert [len(s) for s in txt_strings(row["content"])] == [255, len(dkim) - 255]
    [record] = await cloudflare.list_records(zone)
    assert (record.name, record.content) == (name, dkim)


async def test_bare_txt_content_from_elsewhere_reads_the_same(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    cloudflare_fake.store.add_record(zone.id, f"_dmarc.{ZONE}", "TXT", "v=DMARC1; p=none", 1)

    [record] = await cloudflare.list_records(zone)

    assert (record.content, record.ttl) == ("v=DMARC1; p=none", 1)


async def test_ttl_rules(cloudflare: DnsProvider) -> None:
    assert cloudflare.normalize_ttl(1) == (1, None)
    assert cloudflare.normalize_ttl(300) == (300, None)
    ttl, note = cloudflare.normalize_ttl(30)
    assert ttl == 60 and note is not None and "60" in note
    assert cloudflare.normalize_ttl(100_000)[0] == 86400


async def test_requests_carry_only_our_token(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    await cloudflare.verify()
    zone = await zone_of(cloudflare)
    await cloudflare.apply(zone, [create(ZONE, "TXT", dkim_value())])
    await cloudflare.list_records(zone)

    assert_private(cloudflare_fake, {CF_TOKEN}, re.compile(re.escape(f"Bearer {CF_TOKEN}")))
