"""Fake Cloudflare API v4 (`/client/v4`): zones, dns_records, batch, token verify.

Follows shared/providers/README.md: the `success/errors/messages/result` envelope, page-based
`result_info`, an empty page past the last one (the official SDK pages until it sees one),
TTL 1 or 60..86400, TXT content stored as sent, identical-record errors 81058.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.providers import (
    BadContent,
    check_content,
    check_owner,
    conflict,
    int_param,
    iso_time,
    owner_name,
)
from lab.providers.base import BadRequest, FakeProvider, RateLimit, Request, Response, cli_main
from lab.zonestore import Row, ZoneStore, new_id, normalize_name

PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
CONFLICTS = {  # conflict() verdict -> (code, message)
    "duplicate": (81058, "An identical record already exists."),
    "cname": (81053, "An A, AAAA, or CNAME record with that host already exists."),
}
Error = dict[str, Any]


@dataclass(frozen=True)
class Credential:
    account: str
    token_id: str


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def page_of(items: list[Any], page: int, per_page: int) -> tuple[list[Any], dict[str, int]]:
    chunk = items[(page - 1) * per_page : page * per_page]
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": math.ceil(len(items) / per_page),
    }
    return chunk, info


class FakeCloudflare(FakeProvider):
    provider = "cloudflare"
    prefix = "/client/v4"
    default_rate_limits = (RateLimit(1200, 300.0),)

    def __init__(self, store: ZoneStore, *, seed: int = 0) -> None:
        super().__init__(store, seed=seed)
        self.zones_max_per_page = 50
        self.records_max_per_page = 5000  # lower it in tests to force several pages
        self.batch_limit = 200  # free plan; paid plans allow 3,500
        self.reject_name_filter = False  # newer API versions may answer 400 to ?name=
        self._tokens: dict[str, Credential] = {}
        self._keys: dict[tuple[str, str], Credential] = {}
        # proxied/comment/modified_on have no column in the shared store; kept here.
        self._extras: dict[str, dict[str, Any]] = {}
        self._add_routes()

    def _add_routes(self) -> None:
        rec = r"/zones/(?P<zone>[^/]+)/dns_records"
        # The real verify endpoint answers a bad token itself: 401, code 1000.
        self.route("GET", "/user/tokens/verify", self._verify, auth=False)
        self.route("GET", "/zones", self._list_zones)
        self.route("POST", "/zones", self._create_zone)
        self.route("GET", r"/zones/(?P<zone>[^/]+)", self._get_zone)
        self.route("GET", rec, self._list_records)
        self.route("POST", rec, self._create_record)
        self.route("POST", rec + "/batch", self._batch)
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            self.route(method, rec + r"/(?P<record>[^/]+)", self._one_record)

    # -- accounts -------------------------------------------------------------------------

    def add_account(
        self,
        token: str,
        zones: Sequence[str] = (),
        *,
        account: str | None = None,
        email: str | None = None,
        api_key: str | None = None,
    ) -> dict[str, Row]:
        """Accept `token` (and the legacy email + global key, if given); returns its zones."""
        account = account or "cf-" + hashlib.sha256(token.encode()).hexdigest()[:12]
        cred = Credential(account, new_id())
        self._tokens[token] = cred
        if email and api_key:
            self._keys[(email.lower(), api_key)] = cred
        return self.add_zones(account, zones)

    # -- envelope hooks -------------------------------------------------------------------

    def error(self, status: int, message: str, code: int = 0) -> Response:
        # 1004: generic validation error; 7000: "No route for that URI".
        default = {400: 1004, 404: 7000, 405: 7000}.get(status, status)
        return self.errors(status, [{"code": code or default, "message": message}])

    def errors(self, status: int, errors: list[Error]) -> Response:
        body = {"success": False, "errors": errors, "messages": [], "result": None}
        return Response(status, body)

    def rate_limited(self, retry_after: int) -> Response:
        limit = self.rate_limits[0] if self.rate_limits else RateLimit(1200, 300)
        message = f"More than {limit.limit} requests per {limit.window_s:g} seconds reached"
        return self.error(429, message, 10100)

    def rate_limit_key(self, req: Request) -> str:
        return req.headers.get("authorization") or req.headers.get("x-auth-email", "")

    def authenticate(self, req: Request) -> Response | None:
        token = req.bearer()
        if token is not None:
            cred = self._tokens.get(token)
        else:
            email = req.headers.get("x-auth-email", "").lower()
            cred = self._keys.get((email, req.headers.get("x-auth-key", "")))
        if cred is None:
            return self.error(403, "Authentication error", 10000)
        req.account = cred.account
        return None

    # -- zones ----------------------------------------------------------------------------

    def _verify(self, req: Request) -> Response:
        cred = self._tokens.get(req.bearer() or "")
        if cred is None:
            return self.error(401, "Invalid API Token", 1000)
        message = {"code": 10000, "message": "This API Token is valid and active", "type": None}
        return Response(
            200, {**envelope({"id": cred.token_id, "status": "active"}), "messages": [message]}
        )

    def _zone_json(self, zone: Row) -> dict[str, Any]:
        stamp = iso_time(zone["created"])
        return {
            "id": zone["id"],
            "name": zone["name"],
            "status": "active",
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "created_on": stamp,
            "modified_on": stamp,
            "activated_on": stamp,
            "account": {"id": zone["account"], "name": zone["account"]},
            "meta": {"phishing_detected": False},
            "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
        }

    def _list_zones(self, req: Request) -> Response:
        zones = self.account_zones(req.account)
        if "name" in req.query:
            if self.reject_name_filter:
                return self.error(400, "Invalid filter: name is not supported", 1004)
            zones = [z for z in zones if z["name"] == normalize_name(req.query["name"])]
        page = int_param(req.query, "page", 1, 1, 10**6)
        per_page = int_param(req.query, "per_page", 20, 5, self.zones_max_per_page)
        chunk, info = page_of([self._zone_json(z) for z in zones], page, per_page)
        return Response(200, envelope(chunk, result_info=info))

    def _create_zone(self, req: Request) -> Response:
        name = normalize_name(str(req.json_object().get("name", "")))
        if not name or "." not in name:
            return self.error(400, "Invalid or missing zone name", 1097)
        if self.store.zone_by_name(self.provider, req.account, name):
            return self.error(400, f"{name} already exists", 1061)
        return Response(200, envelope(self._zone_json(self.add_zone(req.account, name))))

    def _owned_zone(self, req: Request) -> Row | None:
        zone = self.store.zone(req.params["zone"])
        if zone is None or (zone["provider"], zone["account"]) != (self.provider, req.account):
            return None  # another account's zone looks exactly like a missing one
        return zone

    def _no_zone(self, req: Request) -> Response:
        message = (
            f"Could not route to /zones/{req.params['zone']},"
            " perhaps your object identifier is invalid?"
        )
        return self.error(404, message, 7003)

    def _get_zone(self, req: Request) -> Response:
        zone = self._owned_zone(req)
        return Response(200, envelope(self._zone_json(zone))) if zone else self._no_zone(req)

    # -- records --------------------------------------------------------------------------

    def _record_json(self, zone: Row, row: Row) -> dict[str, Any]:
        extra = self._extras.get(row["id"], {})
        created = iso_time(row["created"])
        out: dict[str, Any] = {
            "id": row["id"],
            "zone_id": zone["id"],
            "zone_name": zone["name"],
            "name": row["name"],
            "type": row["type"],
            "content": row["content"],
            "proxiable": row["type"] in PROXIABLE,
            "proxied": extra.get("proxied", False),
            "ttl": row["ttl"],
            "locked": False,
            "comment": extra.get("comment"),
            "tags": [],
            "created_on": created,
            "modified_on": extra.get("modified_on", created),
            "meta": {"auto_added": False, "managed_by_apps": False, "source": "primary"},
        }
        if row["priority"] is not None:
            out["priority"] = row["priority"]
        if row["type"] == "SRV":
            weight, port, target = row["content"].split(" ", 2)
            out["data"] = {
                "priority": row["priority"],
                "weight": int(weight),
                "port": int(port),
                "target": target,
            }
        return out

    def _list_records(self, req: Request) -> Response:
        zone = self._owned_zone(req)
        if zone is None:
            return self._no_zone(req)
        q = req.query
        name = owner_name(q["name"], zone["name"]) if q.get("name") else None
        rows = self.store.records(zone["id"], type=q.get("type") or None, name=name)
        if q.get("content"):
            rows = [r for r in rows if r["content"] == q["content"]]
        page = int_param(q, "page", 1, 1, 10**6)
        per_page = int_param(q, "per_page", 100, 5, self.records_max_per_page)
        chunk, info = page_of(rows, page, per_page)
        result = [self._record_json(zone, r) for r in chunk]
        return Response(200, envelope(result, result_info=info))

    def _create_record(self, req: Request) -> Response:
        return self._batch_response(req, {"posts": [req.json_object()]}, single="posts")

    def _one_record(self, req: Request) -> Response:
        zone = self._owned_zone(req)
        if zone is None:
            return self._no_zone(req)
        row = self.store.record(req.params["record"])
        if row is None or row["zone_id"] != zone["id"]:
            return self.error(404, "Record does not exist.", 81044)
        if req.method == "GET":
            return Response(200, envelope(self._record_json(zone, row)))
        if req.method == "DELETE":
            self._batch_response(req, {"deletes": [{"id": row["id"]}]}, single="deletes")
            return Response(200, envelope({"id": row["id"]}))
        kind = "puts" if req.method == "PUT" else "patches"
        body = {**req.json_object(), "id": row["id"]}
        return self._batch_response(req, {kind: [body]}, single=kind)

    # -- batch: the one write path (single-record calls are batches of one) ---------------

    def _batch(self, req: Request) -> Response:
        return self._batch_response(req, req.json_object())

    def _batch_response(self, req: Request, body: dict[str, Any], single: str = "") -> Response:
        zone = self._owned_zone(req)
        if zone is None:
            return self._no_zone(req)
        ops = {key: body.get(key) or [] for key in ("deletes", "patches", "puts", "posts")}
        if not all(
            isinstance(v, list) and all(isinstance(o, dict) for o in v) for v in ops.values()
        ):
            return self.error(400, "deletes, patches, puts and posts must be lists of objects")
        if sum(len(v) for v in ops.values()) > self.batch_limit:
            return self.error(400, f"A batch may hold at most {self.batch_limit} changes", 1004)
        # One transaction from reading the zone to writing it: concurrent batches serialise,
        # so two identical records posted at once cannot both pass the duplicate check.
        with self.store.transaction():
            plan = BatchPlan(zone, self.store.records(zone["id"]), self._extras)
            errors = plan.run(ops)
            if errors:
                return self.errors(400, errors)
            plan.commit(self.store, self._extras)
        result = {
            key: [self._record_json(zone, r) for r in rows] for key, rows in plan.results.items()
        }
        return Response(200, envelope(result[single][0] if single else result))


class BatchPlan:
    """Applies a batch to a copy of the zone first, so that nothing is written on any error."""

    def __init__(self, zone: Row, rows: list[Row], extras: dict[str, dict[str, Any]]) -> None:
        self.zone = zone
        self.state = {row["id"]: dict(row) for row in rows}
        self.extras = {rid: dict(extras.get(rid, {})) for rid in self.state}
        self.results: dict[str, list[Row]] = {
            k: [] for k in ("deletes", "patches", "puts", "posts")
        }
        self.deleted: list[str] = []

    def run(self, ops: dict[str, list[dict[str, Any]]]) -> list[Error]:
        errors: list[Error] = []
        for kind, items in ops.items():
            for item in items:
                try:
                    self._apply(kind, item)
                except BadRequest as exc:
                    default = 9005 if isinstance(exc, BadContent) else 1004
                    errors.append({"code": exc.code or default, "message": str(exc)})
        return errors

    def _apply(self, kind: str, item: dict[str, Any]) -> None:
        if kind == "posts":
            self._put(new_id(), item, None)
            return
        rid = str(item.get("id", ""))
        if rid not in self.state:
            raise BadRequest("Record does not exist.", 81044)
        if kind == "deletes":
            self.results["deletes"].append(self.state.pop(rid))
            self.deleted.append(rid)
            return
        self._put(rid, item, self.state[rid] if kind == "patches" else None, kind)

    def _put(self, rid: str, item: dict[str, Any], base: Row | None, kind: str = "posts") -> None:
        old = self.state.get(rid)
        merged = {**self._fields(base), **item} if base else item
        row, extra = parse_record(self.zone, merged)
        row["id"], row["zone_id"] = rid, self.zone["id"]
        row["created"] = old["created"] if old else 0.0
        clash = conflict(self.state.values(), row, exclude=rid)
        if clash:
            raise BadRequest(CONFLICTS[clash][1], CONFLICTS[clash][0])
        self.state[rid] = row
        self.extras[rid] = {**self.extras.get(rid, {}), **extra}
        self.results[kind].append(row)

    def _fields(self, row: Row) -> dict[str, Any]:
        extra = self.extras.get(row["id"], {})
        return {**{k: row[k] for k in ("name", "type", "content", "ttl", "priority")}, **extra}

    def commit(self, store: ZoneStore, extras: dict[str, dict[str, Any]]) -> None:
        stamp = iso_time(time.time())
        with store.transaction():
            for rid in self.deleted:
                store.delete_record(rid)
                extras.pop(rid, None)
            for kind in ("patches", "puts", "posts"):
                for row in self.results[kind]:
                    fields = {k: row[k] for k in ("name", "type", "content", "ttl", "priority")}
                    if kind == "posts":
                        row.update(store.add_record(self.zone["id"], record_id=row["id"], **fields))
                    else:
                        store.update_record(row["id"], **fields)
                    modified = iso_time(row["created"]) if kind == "posts" else stamp
                    extras[row["id"]] = {**self.extras[row["id"]], "modified_on": modified}


def parse_record(zone: Row, body: dict[str, Any]) -> tuple[Row, dict[str, Any]]:
    """A record request body -> (store fields, Cloudflare-only extras); BadRequest if invalid."""
    rtype = str(body.get("type") or "").upper()
    if not rtype:
        raise BadRequest("type is required")
    if not body.get("name"):
        raise BadRequest("name is required")
    name = check_owner(owner_name(str(body["name"]), zone["name"]))
    data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else {}
    priority: Any = body.get("priority", data.get("priority"))
    content = str(body.get("content") or "")
    if rtype == "SRV" and data:
        content = f"{data.get('weight')} {data.get('port')} {data.get('target')}"
    content = check_content(rtype, content)
    if rtype in ("MX", "SRV") and not _is_int(priority, 0, 65535):
        raise BadRequest(f"priority is required for {rtype} records (0..65535)")
    ttl = body.get("ttl", 1)
    if not (_is_int(ttl, 1, 1) or _is_int(ttl, 60, 86400)):
        raise BadRequest("Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
    proxied = bool(body.get("proxied", False))
    if proxied and rtype not in PROXIABLE:
        raise BadRequest(f"{rtype} records cannot be proxied.", code=9004)
    row: Row = {
        "name": name,
        "type": rtype,
        "content": content,
        "ttl": int(ttl),
        "priority": int(priority) if rtype in ("MX", "SRV") else None,
    }
    return row, {"proxied": proxied, "comment": body.get("comment")}


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _add_account(fake: FakeProvider, parts: list[str]) -> None:
    assert isinstance(fake, FakeCloudflare)
    token, zones = parts[0], parts[1].split(",") if len(parts) > 1 and parts[1] else []
    fake.add_account(token, zones)


def main(argv: Sequence[str] | None = None) -> None:
    cli_main(FakeCloudflare, _add_account, "TOKEN[:zone1,zone2] (repeatable)", argv)


if __name__ == "__main__":
    main()
