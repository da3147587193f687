"""What every provider client does alike, against each provider's lab fake over real sockets.

Each test runs once per provider; the `case` says where a provider differs (its paging, its
words for an error, its TTL rule, its credentials). What only one provider does is tested in
that provider's own module.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

import pytest

from lab.providers.base import FakeProvider
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.registry import make_provider
from mailpanel.dns.types import Action, Change, ErrorKind, ProviderError, Record
from tests.dns.providers.conftest import (
    OTHER_ZONE,
    SUBZONE,
    ZONE,
    ProviderCase,
    assert_private,
    create,
    dkim_value,
    reset,
    rows,
    seed_records,
    settled,
    statuses,
    zone_of,
    zone_row,
)

Case = ProviderCase[Any]


async def refusal(call: Awaitable[object]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value


def sent(fake: FakeProvider) -> list[tuple[str, str, int]]:
    """Method, path below the prefix and status of each request the fake answered."""
    return [(r.method, r.path.removeprefix(fake.prefix), r.status) for r in settled(fake)]


# -- reading --------------------------------------------------------------------------------


@pytest.fixture
def twelve_records(case: Case, provider_fake: FakeProvider) -> set[str]:
    """The names of 12 A records (TTL 3600) in the zone, which the fake lists 5 a page."""
    case.limit_pages(provider_fake, 5)
    return seed_records(provider_fake, 12)


async def test_it_lists_every_record_across_pages(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider, twelve_records: set[str]
) -> None:
    zone = await zone_of(provider)
    reset(provider_fake)

    records = await provider.list_records(zone)

    assert {r.name for r in records} == twelve_records and len(records) == 12
    assert all(r.ttl == 3600 and bool(r.provider_id) is case.record_ids for r in records)
    pages = [r.query[case.page_param] for r in settled(provider_fake)]
    assert pages == list(case.record_pages)


async def test_it_lists_every_zone_of_the_account_across_pages(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    case.limit_pages(provider_fake, 5)
    account = zone_row(provider_fake)["account"]
    provider_fake.add_zones(account, [f"zone{i}.test" for i in range(6)])

    zones = await provider.list_zones()

    ours = provider_fake.account_zones(account)
    assert len(zones) == 9 and len({z.id for z in zones}) == 9
    assert {(z.id, z.name) for z in zones} == {(case.public_zone_id(z), z["name"]) for z in ours}
    assert OTHER_ZONE not in {z.name for z in zones}


async def test_find_zone_takes_the_longest_match_among_the_accounts_zones(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    for asked in (SUBZONE, f"smtp.{SUBZONE}", "Smtp.Mail.Example.com."):
        found = await provider.find_zone(asked)
        assert found is not None and found.name == SUBZONE, asked
        assert found.id == case.public_zone_id(zone_row(provider_fake, SUBZONE))
    assert await provider.find_zone("example.org") is None
    assert await provider.find_zone(OTHER_ZONE) is None  # another account's zone


async def test_a_5xx_burst_on_reads_is_retried(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider, twelve_records: set[str]
) -> None:
    zone = await zone_of(provider)
    reset(provider_fake)
    provider_fake.error_rate = 0.5

    records = await provider.list_records(zone)

    assert {r.name for r in records} == twelve_records and len(records) == 12
    answers = statuses(provider_fake)
    assert any(status >= 500 for status in answers)
    assert set(answers) <= {200, 500, 502, 503}
    assert answers.count(200) == len(case.record_pages)  # each page read once it came through


# -- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [Record(ZONE, "A", "192.0.2.1", 600), Record(ZONE, "TXT", "v=spf1 -all", 600)],
    ids=["A", "TXT"],
)
async def test_a_duplicate_create_is_refused_in_the_providers_words(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider, record: Record
) -> None:
    zone = await zone_of(provider)
    await provider.apply(zone, [Change(Action.CREATE, after=record)])

    with pytest.raises(ProviderError) as caught:
        await provider.apply(zone, [Change(Action.CREATE, after=record)])

    assert caught.value.kind is ErrorKind.DUPLICATE
    assert re.fullmatch(case.duplicate_message, caught.value.provider_message)
    assert caught.value.status == case.duplicate_status
    assert len(rows(provider_fake)) == 1


async def test_a_429_storm_is_ridden_out(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    zone = await zone_of(provider)
    reset(provider_fake)
    provider_fake.force_429 = 3
    names = [f"h{i}.{ZONE}" for i in range(3)]

    result = await provider.apply(zone, [create(name, "A", "192.0.2.1") for name in names])

    calls = case.write_calls_to_create(3)
    assert result.write_calls == calls
    assert statuses(provider_fake) == [429, 429, 429] + [200] * calls
    assert sorted(r["name"] for r in rows(provider_fake)) == names


async def test_a_long_dkim_txt_round_trips(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    zone = await zone_of(provider)
    dkim = dkim_value()
    name = f"mail._domainkey.{ZONE}"
    assert len(dkim.encode()) > 255  # longer than one TXT string

    await provider.apply(zone, [create(name, "TXT", dkim)])

    [row] = rows(provider_fake)
    assert row["content"] == case.stored_txt(dkim)
    [record] = await provider.list_records(zone)
    assert (record.name, record.content) == (name, dkim)
    await provider.apply(zone, [Change(Action.DELETE, before=record)])
    assert rows(provider_fake) == []


async def test_a_ttl_outside_the_providers_range_is_moved_into_it_with_a_note(
    case: Case, provider: DnsProvider
) -> None:
    for asked, kept in case.ttl_rule.items():
        ttl, note = provider.normalize_ttl(asked)
        assert ttl == kept, asked
        assert (note is None) is (asked == kept), asked
        assert note is None or str(kept) in note


async def test_each_ttl_is_stored_as_the_providers_rule_says(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    changes = [create(f"ttl{asked}.{ZONE}", "A", "192.0.2.1", asked) for asked in case.ttl_rule]

    await provider.apply(await zone_of(provider), changes)

    stored = {r["name"]: r["ttl"] for r in rows(provider_fake)}
    assert stored == {f"ttl{asked}.{ZONE}": kept for asked, kept in case.ttl_rule.items()}


# -- credentials ----------------------------------------------------------------------------


async def test_wrong_credentials_are_an_auth_error_in_the_providers_words(
    case: Case, provider_fake: FakeProvider
) -> None:
    for credentials in case.wrong_credentials:
        reset(provider_fake)
        async with make_provider(case.name, credentials, provider_fake.base_url) as refused:
            errors = [await refusal(refused.verify()), await refusal(refused.list_zones())]

        for error, expected in zip(errors, case.refusals, strict=True):
            assert error.kind is ErrorKind.AUTH, credentials
            assert (error.status, error.provider_message) == (expected.status, expected.message)
            assert case.auth_hint in error.hint
        # One refused request each, never a retry or a loop of logins.
        assert sent(provider_fake) == [(r.method, r.path, r.status) for r in case.refusals]


async def test_good_credentials_verify_in_one_call(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    await provider.verify()

    assert sent(provider_fake) == [(*case.verify_call, 200)]


async def test_requests_carry_only_our_credentials(
    case: Case, provider: DnsProvider, provider_fake: FakeProvider
) -> None:
    await provider.verify()
    zone = await zone_of(provider)
    await provider.apply(zone, [create(ZONE, "TXT", dkim_value())])
    [record] = await provider.list_records(zone)
    await provider.apply(zone, [Change(Action.DELETE, before=record)])

    assert_private(provider_fake, case.own_secrets, case.authorization)
