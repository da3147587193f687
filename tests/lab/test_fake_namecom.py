"""Contract tests of the Name.com v4 fake, spoken to only over HTTP (shared/providers/README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.providers.base import RateLimit
from lab.providers.namecom import FakeNameCom
from lab.zonestore import ZoneStore
from tests.lab.conftest_providers import FakeClock, client, standalone, timed

USER, TOKEN = "alice", "nc-token-1"
DOMAINS = ["example.com", "a.test", "b.test", "c.test", "d.test"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.db") as zone_store:
        yield zone_store


@pytest.fixture
def fake(store: ZoneStore) -> Iterator[FakeNameCom]:
    nc = FakeNameCom(store)
    nc.add_account(USER, TOKEN, DOMAINS)
    nc.add_account("bob", "bob-token", ["bob.test"])
    with nc:
        yield nc


@pytest.fixture
def api(fake: FakeNameCom) -> Iterator[httpx.Client]:
    with client(fake.base_url, auth=(USER, TOKEN)) as http:
        yield http


RECORDS = "/domains/example.com/records"


def create(api: httpx.Client, **record: Any) -> httpx.Response:
    return api.post(RECORDS, json=record)


# -- auth and domains -----------------------------------------------------------------------


def test_basic_auth(api: httpx.Client, fake: FakeNameCom) -> None:
    assert api.get("/hello").json()["username"] == USER
    for auth in [(USER, "wrong"), ("mallory", TOKEN), None]:
        with client(fake.base_url, auth=auth) as http:
            response = http.get("/domains")
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthenticated"}


def test_domains_pagination_has_next_and_last_page_only_when_more(api: httpx.Client) -> None:
    first = api.get("/domains", params={"page": 1, "perPage": 2}).json()
    second = api.get("/domains", params={"page": 2, "perPage": 2}).json()
    last = api.get("/domains", params={"page": 3, "perPage": 2}).json()
    assert (first["nextPage"], first["lastPage"]) == (2, 3)
    assert (second["nextPage"], second["lastPage"]) == (3, 3)
    assert "nextPage" not in last and "lastPage" not in last and len(last["domains"]) == 1
    names = [d["domainName"] for page in (first, second, last) for d in page["domains"]]
    assert sorted(names) == sorted(DOMAINS)  # bob's domain is not listed
    everything = api.get("/domains").json()  # perPage defaults to 1000
    assert len(everything["domains"]) == 5 and "nextPage" not in everything
    assert {"locked", "autorenewEnabled", "expireDate", "createDate"} <= set(first["domains"][0])


def test_other_accounts_domain_is_not_found(api: httpx.Client) -> None:
    response = api.get("/domains/bob.test/records")
    assert response.status_code == 404 and response.json() == {"message": "Not Found"}


# -- records --------------------------------------------------------------------------------


def test_create_apex_and_relative_records(api: httpx.Client, store: ZoneStore) -> None:
    apex = create(api, type="MX", answer="mx.example.com", ttl=300, priority=10).json()
    txt = create(api, host="_dmarc", type="TXT", answer="v=DMARC1; p=none", ttl=3600).json()
    assert isinstance(apex["id"], int) and "host" not in apex
    assert apex["fqdn"] == "example.com." and apex["priority"] == 10
    assert apex["domainName"] == "example.com" and apex["answer"] == "mx.example.com"
    assert txt["host"] == "_dmarc" and txt["fqdn"] == "_dmarc.example.com."
    assert "priority" not in txt and txt["answer"] == "v=DMARC1; p=none"
    zone = store.zone_by_name("namecom", USER, "example.com")
    assert zone is not None
    stored = {r["id"]: r for r in store.records(zone["id"])}
    assert stored[str(txt["id"])]["name"] == "_dmarc.example.com"
    assert stored[str(txt["id"])]["content"] == "v=DMARC1; p=none"  # bare, as sent


def test_host_is_always_relative(api: httpx.Client) -> None:
    record = create(api, host="www.example.com", type="A", answer="192.0.2.1", ttl=300).json()
    assert record["fqdn"] == "www.example.com.example.com."


def test_ttl_minimum_is_300(api: httpx.Client) -> None:
    response = create(api, host="t", type="A", answer="192.0.2.1", ttl=299)
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid Argument" and "300" in response.json()["details"]
    assert create(api, host="t", type="A", answer="192.0.2.1").json()["ttl"] == 300


def test_duplicate_record(api: httpx.Client) -> None:
    assert create(api, type="TXT", answer="v=spf1 -all", ttl=300).status_code == 200
    again = create(api, host="", type="TXT", answer="v=spf1 -all", ttl=600)
    assert again.status_code == 400
    assert again.json() == {
        "message": "Invalid Argument",
        "details": "Parameter Value Error - Duplicate Record",
    }


def test_body_needs_json_content_type(api: httpx.Client) -> None:
    body = '{"type": "A", "answer": "192.0.2.1", "ttl": 300}'
    response = api.post(RECORDS, content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.json()["message"]


def test_invalid_answer(api: httpx.Client) -> None:
    response = create(api, type="A", answer="not-an-ip", ttl=300)
    assert response.status_code == 400 and response.json()["message"] == "Invalid Argument"


def test_get_put_delete(api: httpx.Client) -> None:
    rec = create(api, host="www", type="A", answer="192.0.2.1", ttl=300).json()
    url = f"{RECORDS}/{rec['id']}"
    assert api.get(url).json() == rec
    replaced = api.put(
        url, json={"host": "web", "type": "CNAME", "answer": "example.com", "ttl": 600}
    )
    assert replaced.json() == {
        "id": rec["id"],
        "domainName": "example.com",
        "host": "web",
        "fqdn": "web.example.com.",
        "type": "CNAME",
        "answer": "example.com",
        "ttl": 600,
    }
    deleted = api.delete(url)
    assert (deleted.status_code, deleted.json()) == (200, {})
    missing = api.get(url)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    assert api.delete(url).status_code == 404


def test_records_written_by_other_lab_code_get_integer_ids(
    api: httpx.Client, store: ZoneStore
) -> None:
    zone = store.zone_by_name("namecom", USER, "example.com")
    assert zone is not None
    store.add_record(zone["id"], "seeded.example.com", "A", "192.0.2.50", 300)  # a hex id
    [seeded] = api.get(RECORDS).json()["records"]
    assert isinstance(seeded["id"], int) and seeded["host"] == "seeded"
    assert api.get(f"{RECORDS}/{seeded['id']}").json() == seeded
    assert api.delete(f"{RECORDS}/{seeded['id']}").status_code == 200
    assert store.records(zone["id"]) == []


def test_records_pagination(api: httpx.Client) -> None:
    for i in range(5):
        create(api, host=f"h{i}", type="A", answer=f"192.0.2.{i}", ttl=300)
    first = api.get(RECORDS, params={"perPage": 2}).json()
    assert len(first["records"]) == 2 and first["nextPage"] == 2
    last = api.get(RECORDS, params={"perPage": 2, "page": 3}).json()
    assert [r["host"] for r in last["records"]] == ["h4"] and "nextPage" not in last
    assert len(api.get(RECORDS).json()["records"]) == 5


# -- rate limits, faults, counters ----------------------------------------------------------


def test_rate_limit_20_per_second(api: httpx.Client, fake: FakeNameCom) -> None:
    assert fake.rate_limits == [RateLimit(20, 1.0), RateLimit(3000, 3600.0)]
    clock = FakeClock()
    fake.clock = clock
    assert {api.get("/domains").status_code for _ in range(20)} == {200}
    limited = api.get("/domains")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert "message" in limited.json()
    clock.advance(1.0)
    assert api.get("/domains").status_code == 200


def test_hourly_rate_limit(api: httpx.Client, fake: FakeNameCom) -> None:
    clock = FakeClock()
    fake.clock, fake.rate_limits = clock, [RateLimit(20, 1.0), RateLimit(30, 3600.0)]
    for _ in range(3):
        assert {api.get("/domains").status_code for _ in range(10)} == {200}
        clock.advance(1.0)
    limited = api.get("/domains")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) == 3600 - 3


def test_faults(api: httpx.Client, fake: FakeNameCom) -> None:
    fake.latency_s, fake.force_429 = 0.15, 1
    forced, elapsed = timed(api.get, "/domains")
    assert forced.status_code == 429 and "retry-after" in forced.headers and elapsed >= 0.15
    fake.latency_s, fake.error_rate = 0.0, 1.0
    failed = api.get("/domains")
    assert failed.status_code >= 500 and "message" in failed.json()


def test_request_counting(api: httpx.Client, fake: FakeNameCom) -> None:
    fake.reset_counters()
    rec = create(api, host="c", type="A", answer="192.0.2.1", ttl=300).json()
    api.get(RECORDS, params={"page": 1})
    api.delete(f"{RECORDS}/{rec['id']}")
    assert (fake.request_count, fake.write_count) == (3, 2)
    assert [(r.method, r.status) for r in fake.requests] == [
        ("POST", 200),
        ("GET", 200),
        ("DELETE", 200),
    ]
    assert fake.requests[1].path == "/v4/domains/example.com/records"
    assert fake.requests[1].query == {"page": "1"}


def test_standalone_command(tmp_path: Path) -> None:
    db = tmp_path / "zones.db"
    with (
        standalone("lab.providers.namecom", db, "--account", "u:t:x.test") as url,
        client(url, auth=("u", "t")) as http,
    ):
        assert url.endswith("/v4")
        assert [d["domainName"] for d in http.get("/domains").json()["domains"]] == ["x.test"]
