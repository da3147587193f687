"""Contract tests of the OpenProvider v1beta fake, spoken to only over HTTP (shared/providers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.providers.base import RateLimit
from lab.providers.openprovider import FakeOpenProvider
from lab.zonestore import Row, ZoneStore
from tests.lab.conftest_providers import FakeClock, client, standalone

USER, PASSWORD = "reseller1", "s3cret"
ZONES = ["example.com", "example.net", "shop.test", "blog.test"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.db") as zone_store:
        yield zone_store


@pytest.fixture
def fake(store: ZoneStore) -> Iterator[FakeOpenProvider]:
    op = FakeOpenProvider(store)
    op.clock = FakeClock()
    op.add_account(USER, PASSWORD, ZONES, reseller_id=4242)
    op.add_account("other", "pw", ["other.test"])
    with op:
        yield op


def login(fake: FakeOpenProvider, password: str = PASSWORD) -> httpx.Response:
    with client(fake.base_url) as http:
        body = {"username": USER, "password": password, "ip": "0.0.0.0"}
        return http.post("/auth/login", json=body)


@pytest.fixture
def api(fake: FakeOpenProvider) -> Iterator[httpx.Client]:
    token = login(fake).json()["data"]["token"]
    with client(fake.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def put(api: httpx.Client, zone: str = "example.com", **records: Any) -> httpx.Response:
    return api.put(f"/dns/zones/{zone}", json={"name": zone, "records": records})


def rec(name: str, rtype: str, value: str, ttl: int = 3600, prio: int = 0) -> dict[str, Any]:
    return {"name": name, "type": rtype, "value": value, "ttl": ttl, "prio": prio}


def records(api: httpx.Client, zone: str = "example.com", **params: Any) -> list[dict[str, Any]]:
    return list(api.get(f"/dns/zones/{zone}/records", params=params).json()["data"]["results"])


def stored(store: ZoneStore) -> list[Row]:
    zone = store.zone_by_name("openprovider", USER, "example.com")
    assert zone is not None
    return store.records(zone["id"])


# -- login and tokens -----------------------------------------------------------------------


def test_login_gives_a_token(fake: FakeOpenProvider) -> None:
    body = login(fake).json()
    assert body["code"] == 0 and body["desc"] == ""
    assert body["data"]["reseller_id"] == 4242 and len(body["data"]["token"]) >= 20
    assert fake.login_count == 1


def test_bad_login_and_bad_token(fake: FakeOpenProvider) -> None:
    bad = login(fake, "wrong")
    assert bad.status_code == 401
    assert bad.json() == {"code": 196, "desc": "Authentication/Authorization Failed", "data": {}}
    with client(fake.base_url, headers={"Authorization": "Bearer nope"}) as http:
        denied = http.get("/dns/zones")
    assert denied.status_code == 401 and denied.json()["code"] == 196


def test_token_expires(api: httpx.Client, fake: FakeOpenProvider) -> None:
    assert api.get("/dns/zones").json()["code"] == 0
    assert isinstance(fake.clock, FakeClock)
    fake.clock.advance(48 * 3600)
    expired = api.get("/dns/zones")
    assert expired.status_code == 401 and expired.json()["code"] == 196


def test_expire_sessions_forces_a_new_login(api: httpx.Client, fake: FakeOpenProvider) -> None:
    fake.expire_sessions()
    assert api.get("/dns/zones").json()["code"] == 196


def test_more_than_30_logins_a_minute_are_denied(fake: FakeOpenProvider) -> None:
    body = {"username": USER, "password": PASSWORD, "ip": "0.0.0.0"}
    with client(fake.base_url) as http:
        assert {http.post("/auth/login", json=body).json()["code"] for _ in range(30)} == {0}
        denied = http.post("/auth/login", json=body)
        assert denied.json()["code"] == 10005 and denied.json()["desc"] == "Access denied"
        assert fake.login_count == 31
        assert isinstance(fake.clock, FakeClock)
        fake.clock.advance(61)
        assert http.post("/auth/login", json=body).json()["code"] == 0


# -- zones ----------------------------------------------------------------------------------


def test_zones_limit_offset_total(api: httpx.Client) -> None:
    first = api.get("/dns/zones", params={"limit": 3, "offset": 0}).json()["data"]
    rest = api.get("/dns/zones", params={"limit": 3, "offset": 3}).json()["data"]
    assert (len(first["results"]), len(rest["results"]), first["total"]) == (3, 1, 4)
    names = [z["name"] for z in first["results"] + rest["results"]]
    assert sorted(names) == sorted(ZONES)  # the other account's zone is not listed
    zone = first["results"][0]
    assert isinstance(zone["id"], int) and zone["type"] == "master" and zone["active"] is True


def test_zones_limit_max_and_name_pattern(api: httpx.Client, fake: FakeOpenProvider) -> None:
    fake.max_limit = 2  # the real maximum is 500
    assert len(api.get("/dns/zones", params={"limit": 500}).json()["data"]["results"]) == 2
    found = api.get("/dns/zones", params={"name_pattern": "example*"}).json()["data"]
    assert sorted(z["name"] for z in found["results"]) == ["example.com", "example.net"]
    assert found["total"] == 2


def test_zone_with_records_and_unknown_zone(api: httpx.Client) -> None:
    put(api, add=[rec("", "A", "192.0.2.1")])
    zone = api.get("/dns/zones/example.com", params={"with_records": "true"}).json()["data"]
    assert zone["name"] == "example.com" and zone["records"][0]["value"] == "192.0.2.1"
    missing = api.get("/dns/zones/other.test")
    assert missing.status_code == 404 and missing.json()["code"] != 0


def test_create_zone_in_the_real_apis_domain_form(api: httpx.Client) -> None:
    body = {"domain": {"name": "newsite", "extension": "org"}, "type": "master"}
    assert api.post("/dns/zones", json=body).json()["code"] == 0
    assert records(api, "newsite.org") == []
    again = api.post("/dns/zones", json={"name": "newsite.org"}).json()
    assert again["code"] != 0 and "Duplicate" in again["desc"]


# -- records --------------------------------------------------------------------------------


def test_add_with_relative_apex_and_full_names(api: httpx.Client, store: ZoneStore) -> None:
    answer = put(
        api,
        add=[
            rec("", "MX", "mx.example.com", prio=10),
            rec("_dmarc", "TXT", "v=DMARC1; p=none"),
            rec("www.example.com", "A", "192.0.2.7", ttl=600),
        ],
    )
    assert answer.json() == {"code": 0, "desc": "", "data": {"success": True}}
    got = {(r["name"], r["type"]): r for r in records(api)}
    assert got[("example.com", "MX")]["prio"] == 10
    assert got[("_dmarc.example.com", "TXT")]["value"] == '"v=DMARC1; p=none"'  # served quoted
    assert (
        got[("www.example.com", "A")]["prio"] == 0 and got[("www.example.com", "A")]["ttl"] == 600
    )
    txt = [r for r in stored(store) if r["type"] == "TXT"]
    assert [(r["name"], r["content"]) for r in txt] == [("_dmarc.example.com", "v=DMARC1; p=none")]


def test_records_offset_total_and_type(api: httpx.Client) -> None:
    put(api, add=[rec(f"h{i}", "A", f"192.0.2.{i}") for i in range(5)] + [rec("", "TXT", "x")])
    page = api.get("/dns/zones/example.com/records", params={"limit": 4, "offset": 4}).json()
    assert page["data"]["total"] == 6 and len(page["data"]["results"]) == 2
    assert [r["type"] for r in records(api, type="TXT")] == ["TXT"]


def test_duplicate_add_is_refused_and_nothing_changes(api: httpx.Client, store: ZoneStore) -> None:
    put(api, add=[rec("", "TXT", "v=spf1 -all")])
    before = stored(store)
    answer = put(api, add=[rec("new", "A", "192.0.2.1"), rec("", "TXT", '"v=spf1 -all"')])
    assert answer.status_code == 200 and answer.json()["code"] != 0
    assert "Duplicate record" in answer.json()["desc"]
    assert stored(store) == before


def test_remove_matches_all_five_fields(api: httpx.Client, store: ZoneStore) -> None:
    put(api, add=[rec("", "TXT", "v=spf1 -all"), rec("", "MX", "mx.example.com", prio=10)])
    wrong_ttl = put(api, remove=[rec("", "TXT", "v=spf1 -all", ttl=600)])
    wrong_prio = put(api, remove=[rec("", "MX", "mx.example.com", prio=20)])
    assert wrong_ttl.json()["code"] != 0 and wrong_prio.json()["code"] != 0
    assert len(stored(store)) == 2
    quoted = put(api, remove=[rec("example.com", "TXT", '"v=spf1 -all"')])  # quotes normalised
    assert quoted.json()["code"] == 0
    assert [r["type"] for r in stored(store)] == ["MX"]


def test_update_replaces_the_original_record(api: httpx.Client, store: ZoneStore) -> None:
    put(api, add=[rec("", "MX", "mx1.example.com", prio=10)])
    change = {
        "original_record": rec("", "MX", "mx1.example.com", prio=10),
        "record": rec("", "MX", "mx2.example.com", ttl=900, prio=5),
    }
    assert put(api, update=[change]).json()["code"] == 0
    [row] = stored(store)
    assert (row["content"], row["ttl"], row["priority"]) == ("mx2.example.com", 900, 5)
    assert put(api, update=[change]).json()["code"] != 0  # the original is gone now


def test_ttl_below_600_is_an_error(api: httpx.Client, store: ZoneStore) -> None:
    answer = put(api, add=[rec("t", "A", "192.0.2.1", ttl=300)])
    assert answer.status_code == 400 and answer.json()["code"] != 0
    assert "600" in answer.json()["desc"] and stored(store) == []


def test_put_with_the_wrong_zone_id_is_refused(api: httpx.Client) -> None:
    body = {"id": 1, "name": "example.com", "records": {"add": [rec("", "A", "192.0.2.1")]}}
    assert api.put("/dns/zones/example.com", json=body).json()["code"] != 0


# -- rate limit, faults, counters -----------------------------------------------------------


def test_identical_calls_are_rate_limited(api: httpx.Client, fake: FakeOpenProvider) -> None:
    assert fake.rate_limits == [RateLimit(300, 300.0)]
    fake.rate_limits = [RateLimit(3, 300.0)]
    assert [api.get("/dns/zones").status_code for _ in range(3)] == [200] * 3
    limited = api.get("/dns/zones")
    assert limited.status_code == 429 and limited.json()["code"] == 10005
    assert limited.headers["retry-after"] == "300"
    assert api.get("/dns/zones", params={"limit": 5}).status_code == 200  # a different call


def test_faults_and_counters(api: httpx.Client, fake: FakeOpenProvider) -> None:
    fake.reset_counters()
    fake.force_429 = 1
    assert api.get("/dns/zones").status_code == 429
    fake.error_rate = 1.0
    failed = put(api, add=[rec("", "A", "192.0.2.1")])
    assert failed.status_code >= 500 and failed.json()["code"] != 0
    assert (fake.request_count, fake.write_count, fake.login_count) == (2, 1, 0)
    assert fake.requests[1].path == "/v1beta/dns/zones/example.com"


def test_standalone_command(tmp_path: Path) -> None:
    db = tmp_path / "zones.db"
    with standalone("lab.providers.openprovider", db, "--account", "u:p:x.test") as url:
        with client(url) as http:
            token = http.post("/auth/login", json={"username": "u", "password": "p"}).json()
        headers = {"Authorization": f"Bearer {token['data']['token']}"}
        with client(url, headers=headers) as http:
            zones = http.get("/dns/zones").json()["data"]["results"]
    assert url.endswith("/v1beta") and [z["name"] for z in zones] == ["x.test"]
