"""`python -m bench.lists`: the servers, domains and DNS list pages as the estate grows.

Each page is asked for through the Django test client, signed in, as its owner: the first
page, a search, the order by state and a page deep in the list. Median of REPEATS requests
after three warm-ups, at 100, 1,000 and 10,000 domains (on a tenth as many servers). No lab:
an estate of rows in a fresh data folder. Writes bench/results/lists.json and lists.png.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")
os.environ.setdefault("MAILPANEL_DATA_DIR", tempfile.mkdtemp(prefix="mailpanel-bench-lists-"))
os.environ.setdefault("MAILPANEL_ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import median, plot_series, timed, write_json  # noqa: E402

DOMAIN_COUNTS = (100, 1_000, 10_000)
REPEATS = 15
TARGET_MS = 50.0
PAGES = {"servers": "/servers/", "domains": "/domains/", "dns": "/dns/"}
# "00" is in many names (s00123, d01007.example.test): a search with pages of results.
ASKS = {"first": {}, "search": {"q": "00"}, "state": {"sort": "state"}, "deep": {"page": "50"}}


def grow(user: Any, credential: Any, servers: int, domains: int) -> None:
    """Add rows until the owner has ``servers`` servers and ``domains`` domains."""
    from mailpanel.domains.models import SendingDomain
    from mailpanel.servers.models import HostKeyState, Server

    have = Server.objects.filter(owner=user).count()
    Server.objects.bulk_create(
        Server(
            owner=user,
            name=f"s{n:05d}",
            host="192.0.2.25",
            credential=credential,
            mail_hostname=f"mail{n}.example.test",
            host_key_state=HostKeyState.CONFIRMED,
            facts={"os_name": "Debian GNU/Linux 12"},
        )
        for n in range(have, servers)
    )
    fleet = list(Server.objects.filter(owner=user))
    have = SendingDomain.objects.filter(owner=user).count()
    now = timezone.now()
    SendingDomain.objects.bulk_create(
        (
            SendingDomain(
                owner=user,
                server=fleet[n % len(fleet)],
                name=f"d{n:05d}.example.test",
                verified_at=now if n % 10 else None,
                verified_by="txt" if n % 10 else "",
            )
            for n in range(have, domains)
        ),
        batch_size=2_000,
    )


def measure(client: Client, path: str, params: dict[str, str]) -> dict[str, float]:
    for _ in range(3):
        client.get(path, params)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params)
    assert response.status_code == 200, (path, response.status_code)
    count = len(queries)  # now: the connection's log is gone once it is closed
    seconds = [timed(lambda: client.get(path, params)) for _ in range(REPEATS)]
    return {
        "ms": round(median(seconds) * 1000, 1),
        "kib": round(len(response.content) / 1024, 1),
        "queries": count,
    }


def main() -> int:
    from django.core.management import call_command

    from mailpanel.accounts.models import User
    from mailpanel.vault.actions import generate_ssh_key

    call_command("migrate", "--no-input", "-v", "0")
    user = User.objects.create_user("bench@example.test", "bench passphrase 1234", full_name="B")
    credential = generate_ssh_key(user, "bench key")
    client = Client()
    client.force_login(user)
    client.get("/")
    results: dict[str, Any] = {}
    for count in DOMAIN_COUNTS:
        grow(user, credential, max(count // 10, 1), count)
        results[str(count)] = {
            page: {ask: measure(client, path, params) for ask, params in ASKS.items()}
            for page, path in PAGES.items()
        }
        for page, asks in results[str(count)].items():
            shown = ", ".join(
                f"{a} {m['ms']} ms {m['kib']} KiB {m['queries']} q" for a, m in asks.items()
            )
            print(f"{count:>6} domains  {page:<8} {shown}")
    write_json("lists", {"repeats": REPEATS, "target_ms": TARGET_MS, "by_domains": results})
    series = {
        f"{page} ({ask})": [results[str(c)][page][ask]["ms"] / 1000 for c in DOMAIN_COUNTS]
        for page in PAGES
        for ask in ("first", "deep")
    }
    plot_series("lists", "List pages as the estate grows", "domains", list(DOMAIN_COUNTS), series)
    slowest = max(
        m["ms"] for asks in results[str(DOMAIN_COUNTS[-1])].values() for m in asks.values()
    )
    return 0 if slowest < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
