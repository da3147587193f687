"""The list pages cost the same number of queries for one row and for many (no query per
row): servers, domains, credentials and DNS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.dns.models import DnsAccount, DomainZone
from mailpanel.vault.models import Credential
from tests.dns.support import make_domain, make_server

pytestmark = pytest.mark.django_db


# What each page shows of the n-th row (so the count is of a page that lists them all).
SHOWN = {"servers": ">srv-", "domains": "d{n}.example.test",
         "credential_list": "cf {n}", "dns": "dns {n}"}  # fmt: skip


def queries(client: Client, url: str, page: str, rows: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    text = response.content.decode()
    if "{n}" in SHOWN[page]:
        assert all(SHOWN[page].format(n=n) in text for n in range(rows)), page
    else:
        assert text.count(SHOWN[page]) >= rows, page
    return len(ctx.captured_queries)


def one_more_of_everything(owner: User, n: int) -> None:
    """A server with a domain whose zone is in a DNS account, and a credential besides."""
    server = make_server(owner)
    domain = make_domain(owner, server, f"d{n}.example.test")
    token = Credential(owner=owner, kind="cloudflare", label=f"cf {n}")
    token.seal({"token": "t" * 40})
    token.save()
    account = DnsAccount.objects.create(
        owner=owner, credential=token, label=f"dns {n}", provider="cloudflare"
    )
    DomainZone.objects.create(
        domain=domain, owner=owner, account=account, zone_id=f"z{n}", zone_name=domain.name
    )


@pytest.mark.parametrize("page", ["servers", "domains", "credential_list", "dns"])
def test_a_list_page_costs_the_same_queries_for_1_and_6_rows(
    owner_client: Client, user: User, page: str
) -> None:
    url = reverse(page)
    add: Callable[[int], None] = lambda n: one_more_of_everything(user, n)  # noqa: E731
    add(0)
    owner_client.get(reverse("dashboard"))  # the first request records the session
    one = queries(owner_client, url, page, 1)
    for n in range(1, 6):
        add(n)
    assert queries(owner_client, url, page, 6) == one
