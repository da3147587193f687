"""Fake OpenProvider REST API v1beta (`/v1beta`): login, DNS zones, zone records.

Follows shared/providers/README.md: `{"code", "desc", "data"}` envelope where code 0 is
success; login tokens (48 h, at most 30 logins a minute); records without ids, changed only
through `PUT /dns/zones/{name}` with add/remove/update matched on all five fields.

Errors come both ways, as on the real API, so clients must check both: authentication
failures with an HTTP error status, record conflicts (duplicate, no such record) with HTTP 200
and a non-zero code. Only 196 and 10005 are documented codes; the others are the fake's own.
"""

from __future__ import annotations

import fnmatch
import hashlib
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lab.providers import canonical, check_content, check_owner, conflict, int_param, owner_name
from lab.providers.base import BadRequest, FakeProvider, RateLimit, Request, Response, cli_main
from lab.zonestore import Row, ZoneStore, new_id, normalize_name, txt_strings, txt_value

AUTH_FAILED = 196
ACCESS_DENIED = 10005
INVALID = 399  # fake's own: validation failed
DUPLICATE = 817  # fake's own: desc says "Duplicate record"
NOT_FOUND = 872  # fake's own: zone or record not found
OK = {"code": 0, "desc": "", "data": {"success": True}}


def op_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def quote_txt(value: str) -> str:
    """TXT values come back wrapped in quotes, long ones as several strings."""
    parts = (s.replace("\\", "\\\\").replace('"', '\\"') for s in txt_strings(value))
    return " ".join(f'"{part}"' for part in parts)


class FakeOpenProvider(FakeProvider):
    provider = "openprovider"
    prefix = "/v1beta"
    # "IP blocked after 300 identical calls in 300 s": keyed on the whole call, see below.
    default_rate_limits = (RateLimit(300, 300.0),)

    def __init__(self, store: ZoneStore, *, seed: int = 0) -> None:
        super().__init__(store, seed=seed)
        self.token_ttl_s = 48 * 3600.0
        self.max_logins_per_minute = 30
        self.max_failed_logins_per_hour = 100
        self.min_ttl = 600
        self.max_limit = 500
        self.login_count = 0  # every POST /auth/login answered, good or bad
        self._accounts: dict[str, tuple[str, int]] = {}  # username -> (password, reseller id)
        self._sessions: dict[str, tuple[str, float]] = {}  # token -> (username, expires at)
        self._logins: list[float] = []
        self._failed: list[float] = []
        self._auth_lock = threading.Lock()
        self.route("POST", "/auth/login", self._login, auth=False)
        self.route("GET", "/dns/zones", self._list_zones)
        self.route("POST", "/dns/zones", self._create_zone)
        self.route("GET", "/dns/zones/(?P<name>[^/]+)", self._get_zone)
        self.route("PUT", "/dns/zones/(?P<name>[^/]+)", self._update_zone)
        self.route("GET", "/dns/zones/(?P<name>[^/]+)/records", self._list_records)

    def add_account(
        self, username: str, password: str, zones: Sequence[str] = (), reseller_id: int = 0
    ) -> dict[str, Row]:
        """Accept this login; the account owns `zones` (created if missing)."""
        self._accounts[username] = (password, reseller_id or 100_000 + len(self._accounts) + 1)
        return self.add_zones(username, zones)

    def new_zone_id(self) -> str:
        """OpenProvider zone ids are integers; the store keeps them as decimal strings."""
        ids = [int(z["id"]) for z in self.store.zones(self.provider) if z["id"].isdigit()]
        return str(max(ids, default=100_000) + 1)

    def expire_sessions(self) -> None:
        """Invalidate every token now, as if 48 hours had passed."""
        with self._auth_lock:
            self._sessions.clear()

    def reset_counters(self) -> None:
        super().reset_counters()
        with self._auth_lock:
            self.login_count = 0
            self._logins.clear()
            self._failed.clear()

    # -- envelope hooks -------------------------------------------------------------------

    def error(self, status: int, message: str, code: int = 0) -> Response:
        return Response(status, {"code": code or INVALID, "desc": message, "data": {}})

    def rate_limited(self, retry_after: int) -> Response:
        return self.error(429, "Access denied", ACCESS_DENIED)

    def rate_limit_key(self, req: Request) -> str:
        """Identical calls are what the real API counts (method, path, query, body)."""
        call = f"{req.method} {req.path} {sorted(req.query.items())} {req.body}"
        return hashlib.sha256(call.encode()).hexdigest()

    def authenticate(self, req: Request) -> Response | None:
        token = req.bearer() or ""
        with self._auth_lock:
            session = self._sessions.get(token)
            if session is not None and session[1] <= self.clock():
                del self._sessions[token]
                session = None
        if session is None:
            return self.error(401, "Authentication/Authorization Failed", AUTH_FAILED)
        req.account = session[0]
        return None

    # -- login ----------------------------------------------------------------------------

    def _login(self, req: Request) -> Response:
        body = req.json_object()
        user, password = str(body.get("username", "")), str(body.get("password", ""))
        with self._auth_lock:
            self.login_count += 1
            now = self.clock()
            self._logins = [t for t in self._logins if now - t < 60] + [now]
            self._failed = [t for t in self._failed if now - t < 3600]
            too_many = len(self._logins) > self.max_logins_per_minute
            if too_many or len(self._failed) >= self.max_failed_logins_per_hour:
                return self.error(403, "Access denied", ACCESS_DENIED)
            account = self._accounts.get(user)
            if account is None or not secrets.compare_digest(account[0], password):
                self._failed.append(now)
                return self.error(401, "Authentication/Authorization Failed", AUTH_FAILED)
            token = secrets.token_hex(20)
            self._sessions[token] = (user, now + self.token_ttl_s)
        data = {"token": token, "reseller_id": account[1]}
        return Response(200, {"code": 0, "desc": "", "data": data})

    # -- zones ----------------------------------------------------------------------------

    def _zone_json(self, zone: Row) -> dict[str, Any]:
        stamp = op_time(zone["created"])
        return {
            "id": int(zone["id"]) if zone["id"].isdigit() else zone["id"],
            "name": zone["name"],
            "type": "master",
            "active": True,
            "is_deleted": False,
            "provider": "openprovider",
            "reseller_id": self._accounts.get(zone["account"], ("", 0))[1],
            "creation_date": stamp,
            "modification_date": stamp,
        }

    def _page(self, req: Request, items: list[Any]) -> Response:
        limit = int_param(req.query, "limit", 100, 1, self.max_limit)
        offset = int_param(req.query, "offset", 0, 0, 10**9)
        data = {"results": items[offset : offset + limit], "total": len(items)}
        return Response(200, {"code": 0, "desc": "", "data": data})

    def _list_zones(self, req: Request) -> Response:
        zones = self.account_zones(req.account)
        pattern = req.query.get("name_pattern", "").lower().replace("%", "*")
        if pattern:
            zones = [z for z in zones if fnmatch.fnmatchcase(z["name"], pattern)]
        return self._page(req, [self._zone_json(z) for z in zones])

    def _zone(self, req: Request) -> Row | None:
        return self.store.zone_by_name(self.provider, req.account, req.params["name"])

    def _no_zone(self) -> Response:
        return self.error(404, "DNS zone not found", NOT_FOUND)

    def _get_zone(self, req: Request) -> Response:
        zone = self._zone(req)
        if zone is None:
            return self._no_zone()
        data = self._zone_json(zone)
        if req.query.get("with_records", "").lower() in ("true", "1"):
            data["records"] = [self._record_json(r) for r in self.store.records(zone["id"])]
        return Response(200, {"code": 0, "desc": "", "data": data})

    def _create_zone(self, req: Request) -> Response:
        """Body `{"domain": {"name", "extension"}}` (real API) or `{"name": "example.com"}`."""
        body = req.json_object()
        name = domain_name(body.get("domain")) or domain_name(body.get("name"))
        if not name or "." not in name:
            raise BadRequest("domain name and extension are required")
        if self.store.zone_by_name(self.provider, req.account, name):
            return self.error(200, f"Duplicate record: zone {name} already exists", DUPLICATE)
        zone = self.add_zone(req.account, name)
        if body.get("records"):
            answer = self._apply(zone, {"records": {"add": body["records"]}})
            if answer.body["code"] != 0:  # all or nothing: no zone with half its records
                self.store.delete_zone(zone["id"])
            return answer
        return Response(200, {"code": 0, "desc": "", "data": {"id": int(zone["id"])}})

    # -- records --------------------------------------------------------------------------

    def _record_json(self, row: Row) -> dict[str, Any]:
        value = quote_txt(row["content"]) if row["type"] == "TXT" else row["content"]
        stamp = op_time(row["created"])
        return {
            "name": row["name"],
            "type": row["type"],
            "value": value,
            "ttl": row["ttl"],
            "prio": row["priority"] or 0,
            "creation_date": stamp,
            "modification_date": stamp,
        }

    def _list_records(self, req: Request) -> Response:
        zone = self._zone(req)
        if zone is None:
            return self._no_zone()
        rows = self.store.records(zone["id"], type=req.query.get("type") or None)
        return self._page(req, [self._record_json(r) for r in rows])

    def _update_zone(self, req: Request) -> Response:
        zone = self._zone(req)
        if zone is None:
            return self._no_zone()
        body = req.json_object()
        if "id" in body and str(body["id"]) != zone["id"]:
            raise BadRequest(f"id {body['id']} is not the id of zone {zone['name']}")
        named = domain_name(body.get("name")) or domain_name(body.get("domain"))
        if named and named != zone["name"]:
            raise BadRequest(f"name {named} does not match zone {zone['name']}")
        return self._apply(zone, body)

    def _apply(self, zone: Row, body: dict[str, Any]) -> Response:
        changes = body.get("records") or {}
        if not isinstance(changes, dict):
            raise BadRequest("records must be an object with add, remove and update lists")
        with self.store.transaction():  # read-check-write as one step under concurrency
            plan = ZonePlan(zone, self.store.records(zone["id"]), self.min_ttl)
            failure = plan.run(changes)
            if failure is not None:
                status, code, desc = failure
                return self.error(status, desc, code)
            plan.commit(self.store)
        return Response(200, OK)


class ZonePlan:
    """Applies remove, then update, then add to a copy of the zone; writes only if all pass."""

    def __init__(self, zone: Row, rows: list[Row], min_ttl: int) -> None:
        self.zone, self.min_ttl = zone, min_ttl
        self.state: dict[str, Row] = {row["id"]: dict(row) for row in rows}
        self.original = set(self.state)

    def run(self, changes: dict[str, Any]) -> tuple[int, int, str] | None:
        try:
            for spec in _objects(changes.get("remove")):
                del self.state[self._find(spec)]
            for change in _objects(changes.get("update")):
                rid = self._find(_object(change.get("original_record")))
                self._put(rid, _object(change.get("record")))
            for spec in _objects(changes.get("add")):
                self._put(new_id(), spec)
        except BadRequest as exc:
            return (400, INVALID, str(exc)) if not exc.code else (200, exc.code, str(exc))
        return None

    def _fields(self, spec: dict[str, Any], *, default_ttl: int | None) -> Row:
        rtype = str(spec.get("type") or "").upper()
        name = check_owner(owner_name(str(spec.get("name") or ""), self.zone["name"]))
        value = check_content(rtype, str(spec.get("value") or ""))
        value = txt_value(value) if rtype == "TXT" else value  # stored bare, served quoted
        ttl = spec.get("ttl", default_ttl)
        prio = spec.get("prio") or 0
        if not isinstance(ttl, int) or not isinstance(prio, int):
            raise BadRequest(f"ttl and prio must be integers: {spec}")
        priority = prio if rtype in ("MX", "SRV") else None
        return {"name": name, "type": rtype, "content": value, "ttl": ttl, "priority": priority}

    def _find(self, spec: dict[str, Any]) -> str:
        """Match on all five fields: name, type, value (quotes normalised), ttl, prio."""
        want = self._fields(spec, default_ttl=None)
        want_value = canonical(want["type"], want["content"])
        for rid, row in self.state.items():
            same = all(row[k] == want[k] for k in ("name", "type", "ttl"))
            same = same and (row["priority"] or 0) == (want["priority"] or 0)
            if same and canonical(row["type"], row["content"]) == want_value:
                return rid
        what = f"{want['name']} {want['type']} {want['content']}"
        raise BadRequest(f"Record not found: {what}", NOT_FOUND)

    def _put(self, rid: str, spec: dict[str, Any]) -> None:
        row = self._fields(spec, default_ttl=3600)
        if row["ttl"] < self.min_ttl:
            raise BadRequest(f"TTL must be at least {self.min_ttl} seconds, got {row['ttl']}")
        row.update(id=rid, zone_id=self.zone["id"], created=self.state.get(rid, {}).get("created"))
        clash = conflict(self.state.values(), row, exclude=rid)
        if clash:
            what = "Duplicate record" if clash == "duplicate" else "Duplicate record (CNAME)"
            raise BadRequest(f"{what}: {row['name']} {row['type']} {row['content']}", DUPLICATE)
        self.state[rid] = row

    def commit(self, store: ZoneStore) -> None:
        fields = ("name", "type", "content", "ttl", "priority")
        with store.transaction():
            for rid in self.original - set(self.state):
                store.delete_record(rid)
            for rid, row in self.state.items():
                values = {k: row[k] for k in fields}
                if rid not in self.original:
                    store.add_record(self.zone["id"], record_id=rid, **values)
                else:
                    store.update_record(rid, **values)


def domain_name(value: Any) -> str:
    """ "example.com", or the real API's {"name": "example", "extension": "com"}."""
    if isinstance(value, dict):
        value = ".".join(str(value[k]) for k in ("name", "extension") if value.get(k))
    return normalize_name(value) if isinstance(value, str) else ""


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("each record must be an object {name, type, value, ttl, prio}")
    return value


def _objects(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("add, remove and update must be lists")
    return [_object(v) for v in value]


def _add_account(fake: FakeProvider, parts: list[str]) -> None:
    assert isinstance(fake, FakeOpenProvider)
    if len(parts) < 2:
        raise SystemExit("--account wants USER:PASSWORD[:zone1,zone2]")
    zones = parts[2].split(",") if len(parts) > 2 and parts[2] else []
    fake.add_account(parts[0], parts[1], zones)


def main(argv: Sequence[str] | None = None) -> None:
    cli_main(FakeOpenProvider, _add_account, "USER:PASSWORD[:zone1,zone2] (repeatable)", argv)


if __name__ == "__main__":
    main()
