"""Every route, every verb, with malformed ids and parameters: a 4xx or a redirect, never a 500.

The routes come from the URL resolver itself, so a route added later is covered without a
line here. Object routes are asked for with ids that exist for nobody, with the owner's own
objects and with another tenant's, each time with junk in the query string and the form.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from mailpanel.accounts.models import User
from mailpanel.assistant.models import Draft, DraftKind, DraftState
from mailpanel.jobs.models import Job
from tests.dns.support import make_domain, make_server

JUNK = {
    "draft": "not-a-uuid",
    "page": "-1x",
    "after": "abc",
    "server": "not-a-uuid",
    "kind": "no-such-kind",
    "next": "//outside.example/",
    "step": "no-such-step",
    "fingerprint": "SHA256:junk",
    "action": "no-such-action",
    "line": "x" * 300,
    "force": "on",
    "id": "0x1",
}
CONVERTER = re.compile(r"<(?:(?P<kind>[a-z]+):)?(?P<name>\w+)>")
NO_SERVER_ERROR = {200, 204, 301, 302, 303, 400, 403, 404, 405, 409}


def route_templates(resolvers: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from route_templates(entry.url_patterns, route)
        else:
            yield route


def fill(template: str, ids: dict[str, str]) -> str | None:
    """A concrete path for ``template``, or None for regex routes that take no plain values."""
    if template.startswith("^") or "(?P" in template:
        return None

    def value(match: re.Match[str]) -> str:
        kind, name = match["kind"] or "str", match["name"]
        if kind == "uuid":
            return ids.get(name, str(uuid.uuid4()))
        return {"int": "2147483648", "slug": "no-such-slug", "path": "1/change"}.get(kind, "x%00")

    return "/" + CONVERTER.sub(value, template).lstrip("^").rstrip("$")


@pytest.fixture
def own_ids(user: User) -> dict[str, str]:
    server = make_server(user)
    domain = make_domain(user, server, "malformed.example.test")
    job = Job.objects.create(owner=user, kind="selftest", target="x")
    draft = Draft.objects.create(
        owner=user, kind=DraftKind.REWRITE, state=DraftState.COMPLETE, inputs={}, text="t"
    )
    return {
        "server_id": str(server.pk),
        "domain_id": str(domain.pk),
        "job_id": str(job.pk),
        "draft_id": str(draft.pk),
    }


def paths(ids: dict[str, str]) -> list[str]:
    filled = (fill(t, ids) for t in set(route_templates(get_resolver().url_patterns)))
    return sorted(p for p in filled if p is not None and not p.startswith("/static"))


def answers(client: Client, path: str) -> list[tuple[str, str, int]]:
    found = []
    for method in ("get", "post", "put", "delete"):
        response = getattr(client, method)(path, JUNK if method != "delete" else None)
        found.append((method.upper(), path, response.status_code))
    return found


def status_for_any_verb(client: Client, path: str) -> int:
    """The GET answer, or the POST answer where the route takes POST only."""
    status = client.get(path).status_code
    return client.post(path, JUNK).status_code if status == 405 else status


@pytest.mark.parametrize("ids_of", ["nobody", "owner", "other tenant"])
def test_no_route_answers_malformed_input_with_a_server_error(
    user: User, other_user: User, own_ids: dict[str, str], ids_of: str
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(other_user if ids_of == "other tenant" else user)
    ids = {} if ids_of == "nobody" else own_ids

    results = [result for path in paths(ids) for result in answers(client, path)]

    assert len(results) > 100  # the resolver really gave the routes
    failures = [r for r in results if r[2] not in NO_SERVER_ERROR]
    assert failures == []


def test_another_tenants_objects_are_404_on_every_object_route(
    other_user: User, own_ids: dict[str, str]
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(other_user)
    object_paths = [p for p in paths(own_ids) if any(v in p for v in own_ids.values())]

    statuses = {p: status_for_any_verb(client, p) for p in object_paths}

    assert len(statuses) >= 20
    assert {p: s for p, s in statuses.items() if s != 404} == {}


def test_a_draft_id_that_is_not_a_uuid_is_a_404(owner_client: Client) -> None:
    response = owner_client.get("/assistant/rewrite/?draft=not-a-uuid")

    assert response.status_code == 404


def test_deleting_a_server_redirects_to_the_server_list(
    owner_client: Client, own_ids: dict[str, str], user: User
) -> None:
    bare = make_server(user)

    response = owner_client.post(f"/servers/{bare.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/servers/"
    assert owner_client.get(response["Location"]).status_code == 200
