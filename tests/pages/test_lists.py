"""Lists that grow with the estate: servers, sending domains and DNS show 100 rows a page,
at the same query count for ten rows as for ten thousand, with a search and a few orders."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.dns.models import DnsAccount, DomainZone
from mailpanel.domains.models import SendingDomain
from mailpanel.servers.models import FleetRun, HostKeyState, Server
from mailpanel.vault.actions import generate_ssh_key

pytestmark = pytest.mark.django_db

BIG = 10_000
MAX_PAGE_BYTES = 60 * 1024
# Rows made at once share one creation time, so "newest first" falls back to the name.
MADE_AT = timezone.now() - timedelta(days=30)


@dataclass(frozen=True)
class Kind:
    """One list page: where it is, how its rows link, how the tests fill it."""

    page: str
    detail: str
    fill: Callable[[User, list[str]], None]


def fill_servers(owner: User, names: list[str]) -> None:
    credential = generate_ssh_key(owner, f"key-{uuid.uuid4().hex[:6]}")
    Server.objects.bulk_create(
        Server(
            owner=owner,
            name=name,
            host="192.0.2.25",
            credential=credential,
            mail_hostname=f"mail.{name}.test",
            host_key_state=HostKeyState.CONFIRMED,
        )
        for name in names
    )
    Server.objects.filter(owner=owner).update(created_at=MADE_AT)


def fill_domains(owner: User, names: list[str]) -> None:
    server = Server.objects.filter(owner=owner).first()
    if server is None:
        fill_servers(owner, [f"srv-{uuid.uuid4().hex[:6]}"])
        server = Server.objects.get(owner=owner)
    now = timezone.now()
    SendingDomain.objects.bulk_create(
        SendingDomain(owner=owner, server=server, name=name, verified_at=now, verified_by="txt")
        for name in names
    )
    SendingDomain.objects.filter(owner=owner).update(created_at=MADE_AT)


KINDS = {
    "servers": Kind("servers", "server_detail", fill_servers),
    "domains": Kind("domains", "domain_detail", fill_domains),
    "dns": Kind("dns", "dns_domain", fill_domains),
}
DOMAIN_KINDS = ["domains", "dns"]


def row_name(kind: str, number: int, word: str = "row") -> str:
    return f"{word}{number:05d}" if kind == "servers" else f"{word}{number:05d}.example.test"


def names(kind: str, count: int, word: str = "row", start: int = 0) -> list[str]:
    return [row_name(kind, n, word) for n in range(start, start + count)]


def shown(kind: str, page: str) -> list[str]:
    """The names of the rows on ``page``, in order, read from their links."""
    sample = reverse(KINDS[kind].detail, args=[uuid.UUID(int=0)])
    link = re.escape(sample).replace(re.escape(str(uuid.UUID(int=0))), "[0-9a-f-]{36}")
    return [html.unescape(name) for name in re.findall(f'href="{link}">([^<]+)</a>', page)]


def get(client: Client, kind: str, **params: Any) -> tuple[int, str]:
    response = client.get(reverse(KINDS[kind].page), params)
    return response.status_code, response.content.decode()


def next_link(page: str) -> str:
    [href] = re.findall(r'href="([^"]*)" rel="next"', page)
    return html.unescape(str(href))


def rows_of(first: int, last: int, total: int) -> str:
    """The pager's words for the rows shown, as in "1 to 100 of 150"."""
    return f"{first}\N{EN DASH}{last} of {total}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_of_a_large_estate_holds_a_hundred_rows_and_stays_small(
    kind: str, user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, BIG))

    response = owner_client.get(reverse(KINDS[kind].page))

    page = response.content.decode()
    assert response.status_code == 200
    assert shown(kind, page) == names(kind, 100)
    assert len(response.content) < MAX_PAGE_BYTES, len(response.content)
    assert rows_of(1, 100, BIG) in page


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("params", [{}, {"q": "row0", "sort": "state", "page": "2"}])
def test_a_page_costs_the_same_queries_for_ten_rows_as_for_ten_thousand(
    kind: str, params: dict[str, str], user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, 10))
    owner_client.get(reverse("home"))  # the first request of a session records it, once
    with CaptureQueriesContext(connection) as few:
        assert get(owner_client, kind, **params)[0] == 200
    KINDS[kind].fill(user, names(kind, BIG - 10, start=10))
    with CaptureQueriesContext(connection) as many:
        assert get(owner_client, kind, **params)[0] == 200

    assert len(many) == len(few), [q["sql"] for q in many]


@pytest.mark.parametrize("kind", KINDS)
def test_a_search_finds_exactly_the_matching_rows_whatever_their_case(
    kind: str, user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, 300) + names(kind, 150, word="shop"))

    _, first = get(owner_client, kind, q="SHOP")
    _, second = get(owner_client, kind, q="SHOP", page="2")

    assert rows_of(1, 100, 150) in first
    assert shown(kind, first) + shown(kind, second) == names(kind, 150, word="shop")


@pytest.mark.parametrize("kind", DOMAIN_KINDS)
@pytest.mark.parametrize("query", ["Bücher", "bücher.example.test", "xn--bcher", "BÜCHER.example"])
def test_an_idn_is_found_by_its_unicode_name(
    kind: str, query: str, user: User, owner_client: Client
) -> None:
    fill_domains(user, ["xn--bcher-kva.example.test", "buecher.example.test", *names(kind, 5)])

    _, page = get(owner_client, kind, q=query)

    assert shown(kind, page) == ["bücher.example.test"]


@pytest.mark.parametrize("kind", KINDS)
def test_newest_first_puts_the_rows_added_last_on_top(
    kind: str, user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, 150))
    model = Server if kind == "servers" else SendingDomain
    model.objects.filter(name__in=names(kind, 3, start=140)).update(
        created_at=timezone.now() + timedelta(days=1)
    )

    _, page = get(owner_client, kind, sort="newest")

    assert shown(kind, page)[:4] == [*names(kind, 3, start=140), row_name(kind, 0)]


def test_servers_by_state_show_a_changed_key_then_an_unconfirmed_one_first(
    user: User, owner_client: Client
) -> None:
    fill_servers(user, names("servers", 150))
    Server.objects.filter(name=row_name("servers", 120)).update(
        host_key_state=HostKeyState.UNCONFIRMED
    )
    Server.objects.filter(name=row_name("servers", 130)).update(host_key_state=HostKeyState.CHANGED)

    _, page = get(owner_client, "servers", sort="state")

    rows = shown("servers", page)
    assert rows[:3] == [row_name("servers", 130), row_name("servers", 120), row_name("servers", 0)]
    assert len(rows) == 100


def test_domains_by_state_show_the_ones_not_verified_first(
    user: User, owner_client: Client
) -> None:
    fill_domains(user, names("domains", 150))
    SendingDomain.objects.filter(name=row_name("domains", 140)).update(verified_at=None)

    _, page = get(owner_client, "domains", sort="state")

    assert shown("domains", page)[:2] == [row_name("domains", 140), row_name("domains", 0)]
    assert 'data-verified="false"' in page


def test_dns_by_state_shows_the_domains_without_a_zone_first(
    user: User, owner_client: Client
) -> None:
    fill_domains(user, names("dns", 150))
    credential = Server.objects.get(owner=user).credential
    account = DnsAccount.objects.create(
        owner=user, credential=credential, label="Cloudflare", provider="cloudflare"
    )
    DomainZone.objects.bulk_create(
        DomainZone(owner=user, domain=d, account=account, zone_id="z1", zone_name="example.test")
        for d in SendingDomain.objects.filter(owner=user).exclude(name=row_name("dns", 149))
    )

    owner_client.get(reverse("home"))  # the first request of a session records it, once
    with CaptureQueriesContext(connection) as queries:
        _, page = get(owner_client, "dns", sort="state")

    assert shown("dns", page)[:2] == [row_name("dns", 149), row_name("dns", 0)]
    assert page.count("(Cloudflare)") == 99
    assert len(queries) == 5  # session, user, accounts, count, the page with zones and servers


@pytest.mark.parametrize("kind", KINDS)
def test_page_two_shows_the_next_rows_and_its_link_keeps_the_search_and_order(
    kind: str, user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, 40) + names(kind, 250, word="shop"))
    model = Server if kind == "servers" else SendingDomain
    newest = names(kind, 10, word="shop", start=200)
    model.objects.filter(name__in=newest).update(created_at=timezone.now() + timedelta(days=1))

    _, first = get(owner_client, kind, q="shop", sort="newest")
    link = next_link(first)
    second = owner_client.get(reverse(KINDS[kind].page) + link).content.decode()

    assert "q=shop" in link and "sort=newest" in link and "page=2" in link
    expected = newest + [n for n in names(kind, 250, word="shop") if n not in newest]
    assert shown(kind, first) == expected[:100]
    assert shown(kind, second) == expected[100:200]
    assert rows_of(101, 200, 250) in second


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1x"},
        {"page": "0"},
        {"page": "1e9"},
        {"page": "99999999999999999999"},
        {"sort": "nope"},
        {"sort": "-name"},
        {"sort": "name; DROP TABLE"},
        {"sort": ["newest", "state"], "page": ["x", "2"]},
        {"q": "x" * 1000},
        {"q": "a\x00b"},
    ],
)
def test_a_bad_page_or_order_falls_back_and_never_fails(
    kind: str, params: dict[str, Any], user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, 150))

    status, page = get(owner_client, kind, **params)

    assert status == 200
    if "q" not in params:
        assert shown(kind, page) in (names(kind, 100), names(kind, 50, start=100))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("query", ["%", "_", "\\"])
def test_like_wildcards_in_a_search_match_only_themselves(
    kind: str, query: str, user: User, owner_client: Client
) -> None:
    KINDS[kind].fill(user, names(kind, 20))

    status, page = get(owner_client, kind, q=query)

    assert status == 200 and shown(kind, page) == []
    assert "matches" in page


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("params", [{}, {"q": "shop"}, {"sort": "state"}, {"sort": "newest"}])
def test_another_users_rows_never_appear(
    kind: str,
    params: dict[str, str],
    user: User,
    other_user: User,
    owner_client: Client,
    other_client: Client,
) -> None:
    KINDS[kind].fill(user, names(kind, 5, word="shop"))
    KINDS[kind].fill(other_user, names(kind, 200, word="shop", start=5))

    _, mine = get(owner_client, kind, **params)
    _, theirs = get(other_client, kind, **params)

    assert shown(kind, mine) == names(kind, 5, word="shop")
    assert "of 5 " in mine
    assert not set(shown(kind, theirs)) & set(names(kind, 5, word="shop"))


def test_the_fleet_form_runs_on_the_servers_of_the_page_shown(
    user: User, owner_client: Client
) -> None:
    fill_servers(user, names("servers", 250))
    _, page = get(owner_client, "servers", page="2")
    boxes = re.findall(r'<input type="checkbox" name="server" value="([0-9a-f-]{36})"', page)

    response = owner_client.post(
        reverse("server_fleet_start"), {"action": "health", "server": boxes}
    )

    run = FleetRun.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == reverse("server_fleet_run", args=[run.pk])
    chosen = sorted(run.items.values_list("server__name", flat=True))
    assert chosen == names("servers", 100, start=100)
