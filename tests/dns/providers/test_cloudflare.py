"""What only the Cloudflare client does, against the lab's Cloudflare fake over real sockets:
batches (in chunks, with a fallback to single calls), id lookups, bare TXT from elsewhere.

What every provider does alike is in test_contract.py.
"""

from __future__ import annotations

import pytest

from lab.providers.base import Request, Response
from lab.providers.cloudflare import FakeCloudflare
from lab.zonestore import ZoneStore
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.cloudflare import CloudflareDns
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record
from tests.dns.providers.conftest import (
    CF_TOKEN,
    FAST,
    OUR_ZONES,
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


def cloudflare_errors(status: int, *errors: tuple[int, str]) -> Response:
    body = [{"code": code, "message": message} for code, message in errors]
    return Response(status, {"success": False, "errors": body, "messages": [], "result": None})


class FakeCloudflareBatchAnswer(FakeCloudflare):
    """The batch path gives one fixed answer, as an API without it or a gateway before it might."""

    def __init__(self, store: ZoneStore, answer: Response) -> None:
        super().__init__(store)
        self.answer = answer

    def _batch(self, req: Request) -> Response:
        return self.answer


@pytest.mark.parametrize(
    "answer",
    [
        cloudflare_errors(405, (7000, "Method not allowed")),
        cloudflare_errors(400, (7000, "No route for that URI")),  # as the real API often says
        Response(404, "404 page not found"),  # not Cloudflare's envelope: a gateway's
    ],
    ids=["405", "400-no-route", "404-not-json"],
)
async def test_other_answers_of_a_missing_batch_route_fall_back_to_single_calls(
    store: ZoneStore, answer: Response
) -> None:
    fake = FakeCloudflareBatchAnswer(store, answer)
    fake.add_account(CF_TOKEN, OUR_ZONES)
    with fake:
        async with make_provider("cloudflare", {"token": CF_TOKEN}, fake.base_url) as provider:
            zone = await zone_of(provider)
            reset(fake)
            changes = [create(f"a.{ZONE}", "A", "192.0.2.1"), create(f"b.{ZONE}", "A", "192.0.2.2")]
            result = await provider.apply(zone, changes)

    assert [(r.method, r.status) for r in settled(fake)] == [
        ("POST", answer.status),
        ("POST", 200),
        ("POST", 200),
    ]
    assert result.write_calls == 3
    assert sorted(r["name"] for r in rows(fake)) == [f"a.{ZONE}", f"b.{ZONE}"]


class FakeCloudflareBothZoneCodes(FakeCloudflare):
    """An unknown zone answered as the real API also does: 400, with 7003 and 7000 together."""

    def _no_zone(self, req: Request) -> Response:
        [error] = super()._no_zone(req).body["errors"]
        return self.errors(400, [error, {"code": 7000, "message": "No route for that URI"}])


@pytest.mark.parametrize(
    ("fake_class", "status"),
    [(FakeCloudflare, 404), (FakeCloudflareBothZoneCodes, 400)],
    ids=["7003", "7003-and-7000"],
)
async def test_a_batch_to_a_deleted_zone_fails_in_cloudflares_words_and_is_not_replayed(
    store: ZoneStore, fake_class: type[FakeCloudflare], status: int
) -> None:
    fake = fake_class(store)
    fake.add_account(CF_TOKEN, OUR_ZONES)
    with fake:
        async with make_provider(
            "cloudflare", {"token": CF_TOKEN}, fake.base_url, retry=FAST
        ) as provider:
            gone, other = await zone_of(provider), await zone_of(provider, "other.test")
            store.delete_zone(gone.id)
            reset(fake)
            with pytest.raises(ProviderError) as caught:
                await provider.apply(
                    gone, [create(f"mail.{ZONE}", "A", "192.0.2.10"), create(ZONE, "TXT", "v=1")]
                )
            refused = [(r.method, r.path, r.status) for r in settled(fake)]
            reset(fake)
            next_zone = await provider.apply(other, [create("mail.other.test", "A", "192.0.2.20")])

    batch_path = f"{fake.prefix}/zones/{gone.id}/dns_records/batch"
    assert refused == [("POST", batch_path, status)]  # and no single calls after it
    error = caught.value
    assert (error.kind, error.status) == (ErrorKind.NOT_FOUND, status)
    assert error.provider_message.startswith(
        f"Could not route to /zones/{gone.id}, perhaps your object identifier is invalid?"
    )
    assert error.hint == "plan again: the zone or record is gone"
    assert (next_zone.write_calls, batch_calls(fake)) == (1, 1)  # batching is still on
    assert [r["name"] for r in rows(fake, "other.test")] == ["mail.other.test"]


async def test_bare_txt_content_from_elsewhere_reads_the_same(
    cloudflare: DnsProvider, cloudflare_fake: FakeCloudflare
) -> None:
    zone = await zone_of(cloudflare)
    cloudflare_fake.store.add_record(zone.id, f"_dmarc.{ZONE}", "TXT", "v=DMARC1; p=none", 1)

    [record] = await cloudflare.list_records(zone)

    assert (record.content, record.ttl) == ("v=DMARC1; p=none", 1)
