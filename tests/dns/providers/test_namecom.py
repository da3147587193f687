"""What only the Name.com client does, against the lab's Name.com fake over real sockets:
one call per change, a few side by side, under 20 requests a second.

What every provider does alike is in test_contract.py.
"""

from __future__ import annotations

import time

from lab.providers.namecom import FakeNameCom
from mailpanel.dns.providers.base import DnsProvider
from mailpanel.dns.providers.http import RequestPacer
from mailpanel.dns.types import Action, Change, Record
from tests.dns.providers.conftest import ZONE, create, reset, rows, settled, zone_of


def writes(fake: FakeNameCom) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in settled(fake) if r.method != "GET"]


async def test_it_creates_updates_and_deletes_with_single_calls(
    namecom: DnsProvider, namecom_fake: FakeNameCom
) -> None:
    zone = await zone_of(namecom)
    created = await namecom.apply(
        zone,
        [
            create(ZONE, "A", "192.0.2.10", 300),
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

    started = time.monotonic()
    await namecom.apply(zone, [create(f"h{i}.{ZONE}", "A", "192.0.2.1") for i in range(25)])

    # 18 start at once, the other 7 wait for the first second to pass: paced, not refused.
    # (Whether the fake also never said 429 depends on how this process schedules the fake's
    # thread, so the pacing itself is checked on the pacer below.)
    assert time.monotonic() - started >= 0.95
    assert len(rows(namecom_fake)) == 25


async def test_the_pacer_never_starts_more_than_its_limit_in_any_second() -> None:
    pacer = RequestPacer(18, window_s=0.2)  # a short window, the same rule
    starts: list[float] = []
    for _ in range(40):
        await pacer.wait()
        starts.append(time.monotonic())
    busiest = max(sum(1 for t in starts if first <= t < first + 0.2) for first in starts)
    assert busiest == 18
    assert starts[-1] - starts[0] >= 0.4  # 40 starts need two full windows after the first
