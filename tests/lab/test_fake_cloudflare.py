"""Contract tests of the Cloudflare v4 fake, spoken to only over HTTP (shared/providers/README)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.providers.base import RateLimit
from lab.providers.cloudflare import FakeCloudflare
from lab.zonestore import ZoneStore
from tests.lab.conftest_providers import FakeClock, client, standalone, timed

TOKEN = "cf-token-1"
ZONES = [f"zone{i}.test" for i in range(7)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ZoneStore]:
    with ZoneStore(tmp_path / "zones.db") as zone_store:
        yield zone_store


@pytest.fixture
def fake(store: ZoneStore) -> Iterator[FakeCloudflare]:
    cf = FakeCloudflare(store)
    cf.add_account(TOKEN, ["example.com", *ZONES], email="ops@example.com", api_key="gk-1")
    cf.add_account("other-token", ["elsewhere.test"])
    with cf:
        yield cf


@pytest.fixture
def api(fake: FakeCloudflare) -> Iterator[httpx.Client]:
    with client(fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


@pytest.fixture
def zone_id(api: httpx.Client) -> str:
    [zone] = api.get("/zones", params={"name": "example.com"}).json()["result"]
    return str(zone["id"])


def post(api: httpx.Client, zone_id: str, **record: Any) -> httpx.Response:
    return api.post(f"/zones/{zone_id}/dns_records", json=record)


def codes(response: httpx.Response) -> list[int]:
    return [e["code"] for e in response.json()["errors"]]


# -- auth -----------------------------------------------------------------------------------


def test_token_verify_and_envelope(api: httpx.Client) -> None:
    body = api.get("/user/tokens/verify").json()
    assert body["success"] is True and body["errors"] == []
    assert body["result"]["status"] == "active" and len(body["result"]["id"]) == 32


def test_token_verify_refuses_a_bad_token_like_the_real_api(fake: FakeCloudflare) -> None:
    with client(fake.base_url, headers={"Authorization": "Bearer wrong"}) as http:
        response = http.get("/user/tokens/verify")
    assert response.status_code == 401
    assert response.json()["errors"] == [{"code": 1000, "message": "Invalid API Token"}]


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer wrong"}, {}, {"X-Auth-Email": "ops@example.com", "X-Auth-Key": "x"}],
)
def test_bad_credentials_get_403_authentication_error(
    fake: FakeCloudflare, headers: dict[str, str]
) -> None:
    with client(fake.base_url, headers=headers) as http:
        response = http.get("/zones")
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }


def test_legacy_email_and_global_key(fake: FakeCloudflare) -> None:
    headers = {"X-Auth-Email": "OPS@example.com", "X-Auth-Key": "gk-1"}
    with client(fake.base_url, headers=headers) as http:
        assert http.get("/zones").json()["result_info"]["total_count"] == 8


# -- zones ----------------------------------------------------------------------------------


def test_zones_pagination_ends_with_an_empty_page(api: httpx.Client) -> None:
    pages = [api.get("/zones", params={"page": p, "per_page": 5}).json() for p in (1, 2, 3)]
    assert [len(p["result"]) for p in pages] == [5, 3, 0]
    assert pages[1]["result_info"] == {
        "page": 2,
        "per_page": 5,
        "count": 3,
        "total_count": 8,
        "total_pages": 2,
    }
    names = [z["name"] for p in pages for z in p["result"]]
    assert sorted(names) == sorted(["example.com", *ZONES])  # other accounts' zones stay hidden


def test_zones_per_page_default_and_max(api: httpx.Client, fake: FakeCloudflare) -> None:
    assert api.get("/zones").json()["result_info"]["per_page"] == 20
    assert api.get("/zones", params={"per_page": 500}).json()["result_info"]["per_page"] == 50


def test_zone_name_filter_and_its_newer_400(api: httpx.Client, fake: FakeCloudflare) -> None:
    [zone] = api.get("/zones", params={"name": "zone3.test"}).json()["result"]
    assert zone["name"] == "zone3.test" and zone["status"] == "active" and zone["name_servers"]
    assert api.get(f"/zones/{zone['id']}").json()["result"]["id"] == zone["id"]
    fake.reject_name_filter = True
    assert api.get("/zones", params={"name": "zone3.test"}).status_code == 400


def test_foreign_zone_is_not_found(api: httpx.Client, store: ZoneStore) -> None:
    [foreign] = [z for z in store.zones("cloudflare") if z["name"] == "elsewhere.test"]
    assert api.get(f"/zones/{foreign['id']}").status_code == 404
    assert api.get(f"/zones/{foreign['id']}/dns_records").status_code == 404


# -- records --------------------------------------------------------------------------------


def test_create_names_are_stored_full(api: httpx.Client, zone_id: str, store: ZoneStore) -> None:
    apex = post(api, zone_id, type="A", name="@", content="192.0.2.1", ttl=1).json()["result"]
    rel = post(api, zone_id, type="A", name="www", content="192.0.2.2", ttl=60).json()["result"]
    full = post(api, zone_id, type="TXT", name="_dmarc.example.com.", content='"v=DMARC1; p=none"')
    assert (apex["name"], rel["name"]) == ("example.com", "www.example.com")
    dmarc = full.json()["result"]
    assert dmarc["name"] == "_dmarc.example.com" and dmarc["zone_name"] == "example.com"
    assert dmarc["ttl"] == 1 and dmarc["proxied"] is False and dmarc["proxiable"] is False
    assert {"created_on", "modified_on", "meta", "comment", "zone_id"} <= set(dmarc)
    stored = {(r["name"], r["content"]) for r in store.records(zone_id)}
    assert ("_dmarc.example.com", '"v=DMARC1; p=none"') in stored  # TXT stored as sent


@pytest.mark.parametrize("ttl", [0, 2, 59, 86401, "300", True])
def test_ttl_outside_1_or_60_to_86400_is_rejected(
    api: httpx.Client, zone_id: str, ttl: Any
) -> None:
    response = post(api, zone_id, type="A", name="t", content="192.0.2.1", ttl=ttl)
    assert response.status_code == 400 and response.json()["success"] is False
    assert codes(response) == [1004]


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"type": "A", "content": "2001:db8::1"}, 9005),
        ({"type": "AAAA", "content": "192.0.2.1"}, 9005),
        ({"type": "CNAME", "content": "not a host"}, 9005),
        ({"type": "MX", "content": "mx.example.com"}, 1004),  # no priority
        ({"type": "TXT", "content": '"' + "k" * 256 + '"'}, 9005),  # quoted string > 255
        ({"type": "MX", "content": "mx.example.com", "priority": 10, "proxied": True}, 9004),
    ],
)
def test_content_validation(
    api: httpx.Client, zone_id: str, record: dict[str, Any], code: int
) -> None:
    response = post(api, zone_id, name="v", ttl=300, **record)
    assert response.status_code == 400 and codes(response) == [code]


def test_long_bare_txt_is_accepted(api: httpx.Client, zone_id: str) -> None:
    response = post(api, zone_id, type="TXT", name="s1._domainkey", content="p=" + "A" * 400)
    assert response.status_code == 200


def test_identical_record_is_refused_with_quotes_normalised(
    api: httpx.Client, zone_id: str
) -> None:
    assert post(api, zone_id, type="TXT", name="@", content='"v=spf1 -all"').status_code == 200
    again = post(api, zone_id, type="TXT", name="example.com", content="v=spf1 -all")
    assert again.status_code == 400
    assert again.json()["errors"] == [
        {"code": 81058, "message": "An identical record already exists."}
    ]
    post(api, zone_id, type="A", name="www", content="192.0.2.1")
    assert codes(post(api, zone_id, type="CNAME", name="www", content="example.com")) == [81053]


def test_concurrent_identical_posts_create_one_record(
    fake: FakeCloudflare, zone_id: str, store: ZoneStore
) -> None:
    def attempt(_: int) -> int:
        with client(fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            return post(http, zone_id, type="A", name="race", content="192.0.2.9").status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [400] * 7
    assert len(store.records(zone_id, name="race.example.com")) == 1


def test_get_put_patch_delete(api: httpx.Client, zone_id: str) -> None:
    rec = post(api, zone_id, type="MX", name="@", content="mx1.example.com", priority=10).json()
    url = f"/zones/{zone_id}/dns_records/{rec['result']['id']}"
    assert api.get(url).json()["result"]["priority"] == 10
    patched = api.patch(url, json={"priority": 20, "comment": "backup"}).json()["result"]
    assert (patched["priority"], patched["content"], patched["comment"]) == (
        20,
        "mx1.example.com",
        "backup",
    )
    put = api.put(
        url, json={"type": "MX", "name": "@", "content": "mx2.example.com", "priority": 5}
    )
    assert put.json()["result"]["content"] == "mx2.example.com"
    assert put.json()["result"]["comment"] is None  # PUT replaces the whole record
    assert api.delete(url).json()["result"] == {"id": rec["result"]["id"]}
    missing = api.get(url)
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 81044
    assert api.delete(url).json()["errors"][0]["message"] == "Record does not exist."


def test_records_pagination_filters_and_max(
    api: httpx.Client, zone_id: str, fake: FakeCloudflare
) -> None:
    for i in range(7):
        post(api, zone_id, type="A", name=f"h{i}", content=f"192.0.2.{i}")
    post(api, zone_id, type="TXT", name="h1", content="hello")
    fake.records_max_per_page = 5  # the real max is 5,000; lowered to force pages
    url = f"/zones/{zone_id}/dns_records"
    pages = [api.get(url, params={"per_page": 100, "page": p}).json() for p in (1, 2, 3)]
    assert [len(p["result"]) for p in pages] == [5, 3, 0]
    assert pages[0]["result_info"]["total_pages"] == 2 and pages[0]["result_info"]["per_page"] == 5
    assert len(api.get(url, params={"type": "TXT"}).json()["result"]) == 1
    by_name = api.get(url, params={"name": "h1.example.com"}).json()["result"]
    assert sorted(r["type"] for r in by_name) == ["A", "TXT"]


# -- batch ----------------------------------------------------------------------------------


def test_batch_applies_deletes_patches_puts_posts_in_order(
    api: httpx.Client, zone_id: str, store: ZoneStore
) -> None:
    old = post(api, zone_id, type="TXT", name="@", content="v=spf1 -all").json()["result"]
    mx = post(api, zone_id, type="MX", name="@", content="mx.example.com", priority=10).json()
    body = {
        "deletes": [{"id": old["id"]}],
        "patches": [{"id": mx["result"]["id"], "priority": 5}],
        "posts": [{"type": "TXT", "name": "@", "content": "v=spf1 -all", "ttl": 300}],
    }  # the post repeats the deleted record: fine only because deletes run first
    result = api.post(f"/zones/{zone_id}/dns_records/batch", json=body).json()["result"]
    assert [r["id"] for r in result["deletes"]] == [old["id"]]
    assert result["patches"][0]["priority"] == 5 and result["puts"] == []
    assert result["posts"][0]["ttl"] == 300
    assert sorted(r["type"] for r in store.records(zone_id)) == ["MX", "TXT"]


def test_batch_is_all_or_nothing(api: httpx.Client, zone_id: str, store: ZoneStore) -> None:
    keep = post(api, zone_id, type="A", name="keep", content="192.0.2.1").json()["result"]
    before = store.records(zone_id)
    body = {
        "deletes": [{"id": keep["id"]}],
        "posts": [
            {"type": "A", "name": "new", "content": "192.0.2.2"},
            {"type": "A", "name": "bad", "content": "999.0.0.1"},
        ],
    }
    response = api.post(f"/zones/{zone_id}/dns_records/batch", json=body)
    assert response.status_code == 400 and codes(response) == [9005]
    assert store.records(zone_id) == before


def test_batch_limit(api: httpx.Client, zone_id: str, fake: FakeCloudflare) -> None:
    fake.batch_limit = 3
    posts = [{"type": "A", "name": f"n{i}", "content": "192.0.2.1"} for i in range(4)]
    url = f"/zones/{zone_id}/dns_records/batch"
    assert api.post(url, json={"posts": posts}).status_code == 400
    assert len(api.post(url, json={"posts": posts[:3]}).json()["result"]["posts"]) == 3


# -- rate limit, faults, counters -----------------------------------------------------------


def test_rate_limit_answers_429_for_the_rest_of_the_window(
    api: httpx.Client, fake: FakeCloudflare
) -> None:
    clock = FakeClock()
    fake.clock, fake.rate_limits = clock, [RateLimit(3, 300.0)]
    assert [api.get("/zones").status_code for _ in range(3)] == [200, 200, 200]
    clock.advance(100)
    limited = api.get("/zones")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "200"
    assert codes(limited) == [10100]
    with client(fake.base_url, headers={"Authorization": "Bearer other-token"}) as other:
        assert other.get("/zones").status_code == 200  # the limit is per token
    clock.advance(200)
    assert api.get("/zones").status_code == 200


def test_default_rate_limit_is_1200_per_5_minutes(fake: FakeCloudflare) -> None:
    assert fake.rate_limits == [RateLimit(1200, 300.0)]


def test_latency_is_added(api: httpx.Client, fake: FakeCloudflare) -> None:
    fake.latency_s = 0.2
    response, elapsed = timed(api.get, "/zones")
    assert response.status_code == 200 and elapsed >= 0.2


def test_error_rate_is_a_deterministic_share_of_5xx(store: ZoneStore) -> None:
    runs = []
    for _ in range(2):
        cf = FakeCloudflare(store, seed=7)
        cf.add_account(TOKEN)
        cf.error_rate = 0.3
        with cf, client(cf.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            runs.append([http.get("/zones").status_code for _ in range(60)])
    failures = [s for s in runs[0] if s >= 500]
    assert runs[0] == runs[1]  # same seed, same faults
    assert 8 <= len(failures) <= 30 and set(failures) <= {500, 502, 503}


def test_force_429(api: httpx.Client, fake: FakeCloudflare) -> None:
    fake.force_429, fake.retry_after_s = 2, 3
    first, second, third = (api.get("/zones") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "3" and first.json()["success"] is False


def test_request_log_and_counters(api: httpx.Client, zone_id: str, fake: FakeCloudflare) -> None:
    fake.reset_counters()
    post(api, zone_id, type="A", name="x", content="192.0.2.1")
    api.get(f"/zones/{zone_id}/dns_records", params={"type": "A"})
    assert (fake.request_count, fake.write_count) == (2, 1)
    write, read = fake.requests
    assert (write.method, write.path, write.status) == (
        "POST",
        f"/client/v4/zones/{zone_id}/dns_records",
        200,
    )
    assert '"192.0.2.1"' in write.body and write.headers["authorization"] == f"Bearer {TOKEN}"
    assert read.query == {"type": "A"}
    fake.reset_counters()
    assert fake.request_count == 0


def test_binds_only_to_loopback(store: ZoneStore) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        FakeCloudflare(store).start(host="0.0.0.0")


def test_standalone_command(tmp_path: Path) -> None:
    db = tmp_path / "zones.db"
    with (
        standalone("lab.providers.cloudflare", db, "--account", "tok:a.test,b.test") as url,
        client(url, headers={"Authorization": "Bearer tok"}) as http,
    ):
        assert url.endswith("/client/v4")
        names = [z["name"] for z in http.get("/zones").json()["result"]]
    assert names == ["a.test", "b.test"]
    with ZoneStore(db) as store:
        assert [z["name"] for z in store.zones("cloudflare")] == ["a.test", "b.test"]
