"""The shared zone store: schema contract, records, delegations, concurrency."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.zonestore import ZoneStore, txt_strings, txt_value


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.db") as zone_store:
        yield zone_store


def columns(path: Path, table: str) -> list[tuple[str, str, int, int]]:
    """(name, type, notnull, pk) per column, read with a connection of our own."""
    with sqlite3.connect(path) as db:
        rows = db.execute(f"PRAGMA table_info({table})").fetchall()
    return [(r[1], r[2], r[3], r[5]) for r in rows]


def test_schema_is_the_contract_with_the_dns_server(store: ZoneStore) -> None:
    assert columns(store.path, "zones") == [
        ("id", "TEXT", 0, 1),
        ("provider", "TEXT", 1, 0),
        ("account", "TEXT", 1, 0),
        ("name", "TEXT", 1, 0),
        ("created", "REAL", 1, 0),
    ]
    assert [c[0] for c in columns(store.path, "records")] == [
        "id",
        "zone_id",
        "name",
        "type",
        "content",
        "ttl",
        "priority",
        "created",
    ]
    assert columns(store.path, "delegations") == [("name", "TEXT", 0, 1), ("zone_id", "TEXT", 1, 0)]
    assert [c[0] for c in columns(store.path, "static_records")] == [
        "name",
        "type",
        "content",
        "ttl",
        "priority",
    ]
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_zone_names_are_normalised_and_ids_are_hex(store: ZoneStore) -> None:
    zone = store.create_zone("cloudflare", "a1", "Bücher.Example.")
    assert zone["name"] == "xn--bcher-kva.example"
    assert len(zone["id"]) == 32 and int(zone["id"], 16) >= 0
    assert store.zone(zone["id"]) == zone
    assert store.zone_by_name("cloudflare", "a1", "BÜCHER.example") == zone
    assert store.zone_by_name("namecom", "a1", "bücher.example") is None


def test_zones_filter_by_provider_and_account(store: ZoneStore) -> None:
    store.create_zone("cloudflare", "a1", "one.test")
    store.create_zone("cloudflare", "a2", "two.test")
    store.create_zone("namecom", "a1", "three.test")
    assert [z["name"] for z in store.zones()] == ["one.test", "three.test", "two.test"]
    assert [z["name"] for z in store.zones(provider="cloudflare")] == ["one.test", "two.test"]
    assert [z["name"] for z in store.zones(account="a1")] == ["one.test", "three.test"]
    assert [z["name"] for z in store.zones("cloudflare", "a2")] == ["two.test"]


def test_records_keep_insertion_order_and_filter(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    added = [
        store.add_record(zone_id, f"h{i}.Example.com.", "a", f"192.0.2.{i}", 300) for i in range(30)
    ]
    assert [r["id"] for r in store.records(zone_id)] == [r["id"] for r in added]
    assert added[0]["name"] == "h0.example.com" and added[0]["type"] == "A"
    store.add_record(zone_id, "example.com", "MX", "mx.example.com", 300, priority=10)
    [mx] = store.records(zone_id, type="mx")
    assert (mx["content"], mx["priority"]) == ("mx.example.com", 10)
    assert [r["content"] for r in store.records(zone_id, name="H7.EXAMPLE.COM")] == ["192.0.2.7"]
    assert set(mx) == {"id", "zone_id", "name", "type", "content", "ttl", "priority", "created"}


def test_update_and_delete_records(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    rec = store.add_record(zone_id, "example.com", "TXT", '"v=spf1 -all"', 1, record_id="r1")
    updated = store.update_record("r1", content="v=spf1 mx -all", ttl=600, name="Spf.example.com")
    assert (updated["content"], updated["ttl"], updated["name"]) == (
        "v=spf1 mx -all",
        600,
        "spf.example.com",
    )
    assert updated["created"] == rec["created"]
    with pytest.raises(TypeError):
        store.update_record("r1", zone_id="other")
    with pytest.raises(KeyError):
        store.update_record("missing", ttl=300)
    assert store.delete_record("r1") is True
    assert store.delete_record("r1") is False
    assert store.records(zone_id) == []


def test_transaction_is_all_or_nothing(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    with pytest.raises(RuntimeError), store.transaction():
        store.add_record(zone_id, "a.example.com", "A", "192.0.2.1", 300)
        raise RuntimeError("abort the batch")
    assert store.records(zone_id) == []
    with store.transaction():
        store.add_record(zone_id, "a.example.com", "A", "192.0.2.1", 300)
    assert len(store.records(zone_id)) == 1


def test_delegation_goes_to_the_first_zone_of_a_name(store: ZoneStore) -> None:
    first = store.create_zone("cloudflare", "a1", "example.com")
    second = store.create_zone("namecom", "a2", "example.com")
    assert store.authoritative_zone("example.com") == first
    store.delegate("EXAMPLE.com.", second["id"])
    assert store.authoritative_zone("www.example.com") == second
    store.delete_zone(second["id"])  # the name falls back to the remaining zone
    assert store.authoritative_zone("www.example.com") == first


def test_authoritative_zone_is_the_longest_delegated_suffix(store: ZoneStore) -> None:
    parent = store.create_zone("cloudflare", "a1", "example.com")
    child = store.create_zone("namecom", "a2", "sub.example.com")
    assert store.authoritative_zone("a.b.sub.example.com") == child
    assert store.authoritative_zone("SUB.example.com.") == child
    assert store.authoritative_zone("other.example.com") == parent
    assert store.authoritative_zone("notexample.com") is None  # suffix only on a label boundary
    assert store.authoritative_zone("example.org") is None


def test_delete_zone_cascades_to_records(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    store.add_record(zone_id, "example.com", "A", "192.0.2.1", 300)
    assert store.delete_zone(zone_id) is True
    assert store.zone(zone_id) is None and store.records(zone_id) == []
    assert store.authoritative_zone("example.com") is None
    assert store.delete_zone(zone_id) is False


def test_static_records(store: ZoneStore) -> None:
    store.add_static("2.1.200.10.zen.lab.", "a", "127.0.0.2")
    store.add_static("2.1.200.10.zen.lab", "TXT", "Listed", ttl=60)
    assert store.static("2.1.200.10.ZEN.lab") == [
        {
            "name": "2.1.200.10.zen.lab",
            "type": "A",
            "content": "127.0.0.2",
            "ttl": 300,
            "priority": None,
        },
        {
            "name": "2.1.200.10.zen.lab",
            "type": "TXT",
            "content": "Listed",
            "ttl": 60,
            "priority": None,
        },
    ]
    assert store.remove_static("2.1.200.10.zen.lab", "TXT") == 1
    assert [r["type"] for r in store.static("2.1.200.10.zen.lab")] == ["A"]


def test_reset_drops_everything(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    store.add_record(zone_id, "example.com", "A", "192.0.2.1", 300)
    store.add_static("vps1.lab", "A", "10.200.1.2")
    store.reset()
    assert store.zones() == [] and store.static("vps1.lab") == []
    assert store.authoritative_zone("example.com") is None


def test_concurrent_writers_in_threads_and_connections(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    other = ZoneStore(store.path)  # a second connection, as a second fake would have

    def write(target: ZoneStore, worker: int) -> None:
        for i in range(40):
            target.add_record(zone_id, f"w{worker}-{i}.example.com", "A", "192.0.2.1", 300)

    threads = [
        threading.Thread(target=write, args=(store if n % 2 else other, n)) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    rows = store.records(zone_id)
    assert len(rows) == 320 and len({r["id"] for r in rows}) == 320


def test_another_process_writes_while_we_write(store: ZoneStore) -> None:
    zone_id = store.create_zone("cloudflare", "a1", "example.com")["id"]
    script = (
        "import sys\nfrom lab.zonestore import ZoneStore\n"
        "s = ZoneStore(sys.argv[1])\n"
        "for i in range(100):\n"
        "    s.add_record(sys.argv[2], f'p{i}.example.com', 'A', '192.0.2.9', 300)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(store.path), zone_id])
    for i in range(100):
        store.add_record(zone_id, f"t{i}.example.com", "A", "192.0.2.8", 300)
    assert proc.wait(timeout=15) == 0
    assert len(store.records(zone_id)) == 200


def test_txt_helpers_read_stored_content_the_way_dns_serves_it() -> None:
    assert txt_strings('"v=spf1 -all"') == ["v=spf1 -all"]
    assert txt_strings('"part one" "part \\"two\\""') == ["part one", 'part "two"']
    assert txt_strings("v=DMARC1; p=none") == ["v=DMARC1; p=none"]
    assert [len(s) for s in txt_strings("k" * 600)] == [255, 255, 90]
    assert txt_strings('"unterminated') == ['"unterminated']
    assert txt_value('"v=spf1 " "-all"') == txt_value("v=spf1 -all") == "v=spf1 -all"
