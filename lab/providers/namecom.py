"""Fake Name.com API v4 (`/v4`): hello, domains and DNS records.

Follows shared/providers/README.md: HTTP Basic (username, API token), camelCase JSON,
integer record ids, `host` relative to the domain (absent at the apex), `fqdn` with a
trailing dot, default-valued fields omitted, TTL minimum 300, errors `{"message", "details"?}`.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lab.providers import check_content, check_owner, conflict, int_param
from lab.providers.base import BadRequest, FakeProvider, RateLimit, Request, Response, cli_main
from lab.zonestore import Row, ZoneStore, normalize_name

MIN_TTL = 300
DUPLICATE = "Parameter Value Error - Duplicate Record"
CNAME_CONFLICT = "Parameter Value Error - CNAME records cannot coexist with other records"


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_id(store_id: str) -> int:
    """The integer id Name.com clients see: ours are decimal; others get a stable alias."""
    digest = hashlib.sha256(store_id.encode()).hexdigest()
    return int(store_id) if store_id.isdigit() else int(digest[:7], 16)


class FakeNameCom(FakeProvider):
    provider = "namecom"
    prefix = "/v4"
    default_rate_limits = (RateLimit(20, 1.0), RateLimit(3000, 3600.0))

    def __init__(self, store: ZoneStore, *, seed: int = 0) -> None:
        super().__init__(store, seed=seed)
        self.max_per_page = 1000
        self._tokens: dict[str, str] = {}  # username -> API token
        self._ids = random.Random(seed + 1)  # record ids: integers, like the real ones
        self.route("GET", "/hello", self._hello)
        self.route("GET", "/domains", self._list_domains)
        self.route("GET", "/domains/(?P<domain>[^/]+)", self._get_domain)
        records = "/domains/(?P<domain>[^/]+)/records"
        self.route("GET", records, self._list_records)
        self.route("POST", records, self._create_record)
        for method in ("GET", "PUT", "DELETE"):
            self.route(method, records + "/(?P<record>[^/]+)", self._one_record)

    def add_account(self, username: str, token: str, domains: Sequence[str] = ()) -> dict[str, Row]:
        """Accept Basic `username:token`; the account owns `domains` (created if missing)."""
        self._tokens[username] = token
        return self.add_zones(username, domains)

    # -- envelope hooks -------------------------------------------------------------------

    def error(self, status: int, message: str, code: int = 0) -> Response:
        return Response(status, {"message": message})

    def invalid(self, details: str) -> Response:
        return Response(400, {"message": "Invalid Argument", "details": details})

    def rate_limited(self, retry_after: int) -> Response:
        return self.error(429, "Too Many Requests")

    def authenticate(self, req: Request) -> Response | None:
        creds = req.basic_auth()
        if creds is None or self._tokens.get(creds[0]) != creds[1]:
            return self.error(401, "Unauthenticated")
        req.account = creds[0]
        return None

    # -- domains --------------------------------------------------------------------------

    def _hello(self, req: Request) -> Response:
        now = rfc3339(time.time())
        body = {"serverName": "lab", "motd": "lab fake", "username": req.account, "serverTime": now}
        return Response(200, body)

    def _domain_json(self, zone: Row) -> dict[str, Any]:
        return {
            "domainName": zone["name"],
            "locked": True,
            "autorenewEnabled": True,
            "expireDate": rfc3339(zone["created"] + 365 * 86400),
            "createDate": rfc3339(zone["created"]),
        }

    def _page(self, req: Request, items: list[Any], key: str) -> Response:
        """Name.com paging: nextPage and lastPage appear only when there is a next page."""
        page = int_param(req.query, "page", 1, 1, 10**6)
        per_page = int_param(req.query, "perPage", 1000, 1, self.max_per_page)
        last = max(1, -(-len(items) // per_page))
        body: dict[str, Any] = {key: items[(page - 1) * per_page : page * per_page]}
        if page < last:
            body.update(nextPage=page + 1, lastPage=last)
        return Response(200, body)

    def _list_domains(self, req: Request) -> Response:
        zones = self.account_zones(req.account)
        return self._page(req, [self._domain_json(z) for z in zones], "domains")

    def _zone(self, req: Request) -> Row | None:
        return self.store.zone_by_name(self.provider, req.account, req.params["domain"])

    def _get_domain(self, req: Request) -> Response:
        zone = self._zone(req)
        return Response(200, self._domain_json(zone)) if zone else self.error(404, "Not Found")

    # -- records --------------------------------------------------------------------------

    def _record_json(self, zone: Row, row: Row) -> dict[str, Any]:
        out: dict[str, Any] = {"id": public_id(row["id"]), "domainName": zone["name"]}
        if row["name"] != zone["name"]:
            out["host"] = row["name"][: -len(zone["name"]) - 1]
        out.update(fqdn=row["name"] + ".", type=row["type"], answer=row["content"], ttl=row["ttl"])
        if row["priority"]:  # proto3 JSON: zero/unset fields are left out
            out["priority"] = row["priority"]
        return out

    def _list_records(self, req: Request) -> Response:
        zone = self._zone(req)
        if zone is None:
            return self.error(404, "Not Found")
        rows = self.store.records(zone["id"])
        return self._page(req, [self._record_json(zone, r) for r in rows], "records")

    def _create_record(self, req: Request) -> Response:
        return self._write(req, None)

    def _one_record(self, req: Request) -> Response:
        zone = self._zone(req)
        row = self._find(zone, req.params["record"]) if zone else None
        if zone is None or row is None:
            return self.error(404, "Not Found")
        if req.method == "GET":
            return Response(200, self._record_json(zone, row))
        if req.method == "DELETE":
            self.store.delete_record(row["id"])
            return Response(200, {})
        return self._write(req, row)

    def _find(self, zone: Row, record_id: str) -> Row | None:
        row = self.store.record(record_id)
        if row is not None and row["zone_id"] == zone["id"]:
            return row
        # Records written to the store by other lab code may carry hex ids: match their alias.
        rows = self.store.records(zone["id"])
        return next((r for r in rows if str(public_id(r["id"])) == record_id), None)

    def _write(self, req: Request, old: Row | None) -> Response:
        """POST (old is None) or PUT (replace old): validate, refuse duplicates, store."""
        zone = self._zone(req)
        if zone is None:
            return self.error(404, "Not Found")
        if "application/json" not in req.headers.get("content-type", ""):
            return self.error(415, "Unsupported Media Type: Content-Type must be application/json")
        try:
            row = self._parse(zone, req.json_object())
        except BadRequest as exc:
            return self.invalid(str(exc))
        with self.store.transaction():
            clash = conflict(
                self.store.records(zone["id"]), row, exclude=old["id"] if old else None
            )
            if clash:
                return self.invalid(DUPLICATE if clash == "duplicate" else CNAME_CONFLICT)
            if old is None:
                row = self.store.add_record(zone["id"], record_id=self._new_id(), **row)
            else:
                row = self.store.update_record(old["id"], **row)
        return Response(200, self._record_json(zone, row))

    def _parse(self, zone: Row, body: dict[str, Any]) -> Row:
        rtype = str(body.get("type") or "").upper()
        host = normalize_name(str(body.get("host") or ""))
        # host is always relative on Name.com ("www.example.com" would become a subdomain).
        name = zone["name"] if host in ("", "@") else f"{host}.{zone['name']}"
        check_owner(name)
        answer = check_content(rtype, str(body.get("answer") or ""))
        ttl = body.get("ttl", MIN_TTL)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < MIN_TTL:
            raise BadRequest(f"TTL must be an integer of at least {MIN_TTL}")
        priority = body.get("priority")
        if rtype in ("MX", "SRV") and not isinstance(priority, int):
            raise BadRequest(f"priority is required for {rtype} records")
        if rtype not in ("MX", "SRV"):
            priority = None
        return {"name": name, "type": rtype, "content": answer, "ttl": ttl, "priority": priority}

    def _new_id(self) -> str:
        """Name.com ids are integers; the store keeps them as decimal strings."""
        while True:
            candidate = str(self._ids.randrange(100_000, 2**31))
            if self.store.record(candidate) is None:
                return candidate


def _add_account(fake: FakeProvider, parts: list[str]) -> None:
    assert isinstance(fake, FakeNameCom)
    if len(parts) < 2:
        raise SystemExit("--account wants USER:TOKEN[:domain1,domain2]")
    domains = parts[2].split(",") if len(parts) > 2 and parts[2] else []
    fake.add_account(parts[0], parts[1], domains)


def main(argv: Sequence[str] | None = None) -> None:
    cli_main(FakeNameCom, _add_account, "USER:TOKEN[:domain1,domain2] (repeatable)", argv)


if __name__ == "__main__":
    main()
