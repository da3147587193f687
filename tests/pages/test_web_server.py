"""The panel as ``mailpanel web`` serves it (uvicorn with the options cli.py gives it, on a
real socket): who the client is when it forges X-Forwarded-For, and how big a body may be.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from allauth.usersessions.models import UserSession
from django.core.cache import cache
from pytest_django.fixtures import Settings

from mailpanel.cli import web_server_options
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
WebPanel = Callable[..., str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web_panel() -> Iterator[WebPanel]:
    """Start the panel with the web command's own options, read from settings at start."""
    servers: list[uvicorn.Server] = []

    def start() -> str:
        port = _free_port()
        options = web_server_options("127.0.0.1", port) | {"log_level": "warning"}
        options.pop("workers")
        config = uvicorn.Config("mailpanel.asgi:application", **options)  # type: ignore[arg-type]
        server = uvicorn.Server(config)
        threading.Thread(target=server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the panel did not start"
            time.sleep(0.01)
        servers.append(server)
        return f"http://127.0.0.1:{port}"

    cache.clear()  # the login limits live in the cache (Redis on the PostgreSQL run)
    yield start
    for server in servers:
        server.should_exit = True


def sign_in(http: httpx.Client, email: str, password: str, forwarded: str = "") -> str:
    page = http.get("/account/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "the login form carries a CSRF token"
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    data = {"login": email, "password": password, "csrfmiddlewaretoken": token[1]}
    return http.post("/account/login/", data=data, headers=headers).text


@pytest.mark.parametrize(
    ("behind_proxy", "forwarded"),
    [
        (False, "198.51.100.{i}"),  # no proxy: the header is the client's own invention
        (True, "192.0.2.{i}, 203.0.113.8"),  # the client wrote the left, the proxy the right
    ],
)
def test_forged_forwarded_values_do_not_lift_the_per_address_login_limit(
    web_panel: WebPanel, settings: Settings, behind_proxy: bool, forwarded: str
) -> None:
    settings.BEHIND_PROXY = behind_proxy
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    base = web_panel()
    users = [UserFactory.create(email=f"u{i}@example.test") for i in range(12)]

    with httpx.Client(base_url=base) as http:
        pages = [
            sign_in(http, u.email, "wrong password", forwarded=forwarded.format(i=i))
            for i, u in enumerate(users)
        ]

    limited = ["Too many failed login attempts" in page for page in pages]
    assert limited[:10] == [False] * 10
    assert limited[10:] == [True, True]  # the 11th from this address, whatever it claims


def test_without_a_proxy_the_session_keeps_the_real_address(web_panel: WebPanel) -> None:
    base = web_panel()
    user = UserFactory.create(email="real@example.test")

    with httpx.Client(base_url=base) as http:
        sign_in(http, user.email, DEFAULT_PASSWORD, forwarded="203.0.113.66")

    assert list(UserSession.objects.filter(user=user).values_list("ip", flat=True)) == ["127.0.0.1"]


def test_behind_a_trusted_proxy_the_address_the_proxy_saw_counts(
    web_panel: WebPanel, settings: Settings
) -> None:
    settings.BEHIND_PROXY = True
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    base = web_panel()
    user = UserFactory.create(email="proxied@example.test")

    with httpx.Client(base_url=base) as http:
        # The client wrote the left value; the proxy appended the address it saw.
        sign_in(http, user.email, DEFAULT_PASSWORD, forwarded="10.0.0.1, 203.0.113.7")

    assert list(UserSession.objects.filter(user=user).values_list("ip", flat=True)) == [
        "203.0.113.7"
    ]


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    web_panel: WebPanel, settings: Settings
) -> None:
    base = web_panel()
    big = b"x" * (settings.REQUEST_BODY_MAX_BYTES + 1)

    with httpx.Client(base_url=base) as http:
        declared = http.post("/account/login/", content=big)
        chunked = http.post("/account/login/", content=iter([big[:65536]] * 40))
        small = http.get("/account/login/")

    assert declared.status_code == 413
    assert chunked.status_code == 413  # no Content-Length: cut off as it streams
    assert small.status_code == 200
