"""What only the Cloudflare client does, against the lab's Cloudflare fake over real sockets:
batches (in chunks, with a fallback to single calls), id lookups, bare TXT from elsewhere.

What every provider does alike is in test_contract.py.
"""

from __future__ import annotations

from lab.providers.base import Request, Response
from lab.providers.cloudflare import FakeCloudflare
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.cloudflare import CloudflareDns
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, Record
from tests.dns.providers.conftest import (
    CF_TOKEN,
    FAST,
    ZONE,
    create,
    reset,
    rows,
    seed_records,
    settled,
    zone_of,
)


def batch_calls(fake: FakeCloudflare) -> int:
    return sum(1 for r in settled(fake) if r.path.endswith("/dns_records/batch"))


async def test_it_creates_updates_and_deletes_in_one_batch_each(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    reset(cloudflare_fake)
    created = await cloudflare.apply(
        zone,
        [
            create(f"mail.{ZONE}", "A", "192.0.2.10", 300),
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
                create(f"new.{ZONE}", "A", "192.0.2.50", 300),
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


async def test_bare_txt_content_from_elsewhere_reads_the_same(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    cloudflare_fake.store.add_record(zone.id, f"_dmarc.{ZONE}", "TXT", "v=DMARC1; p=none", 1)

    [record] = await cloudflare.list_records(zone)

    assert (record.content, record.ttl) == ("v=DMARC1; p=none", 1)
