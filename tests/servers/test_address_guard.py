"""The panel is no port scanner: refused addresses, no connection on GET, one failure message.

Each test listens on a real loopback socket and counts who knocked, so "no connection was
made" is read off the socket, not inferred.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from mailpanel.accounts.models import User
from mailpanel.servers.models import Server
from mailpanel.vault.actions import generate_ssh_key

LOOPBACK_ALLOWED = ["10.200.0.0/24", "127.0.0.0/8"]


@dataclass
class Listener:
    """A TCP port on 127.0.0.1 that counts connections; ``reply`` is sent, then it closes."""

    reply: bytes = b""
    accepted: int = 0
    sock: socket.socket = field(default_factory=socket.socket)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                if self.reply:
                    conn.sendall(self.reply)


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    found.sock.bind(("127.0.0.1", 0))
    found.sock.listen(8)
    threading.Thread(target=found.serve, daemon=True).start()
    yield found
    found.sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stored_server(owner: User, host: str, port: int = 22) -> Server:
    """A server row as if its address had passed the form once (a name that rebinds since)."""
    key = generate_ssh_key(owner, f"key {host} {port}")
    return Server.objects.create(
        owner=owner, name=f"s-{host}-{port}", host=host, port=port, credential=key,
        mail_hostname="mail.example.test",
    )  # fmt: skip


def add_form(owner: User, host: str, port: int = 22) -> dict[str, object]:
    key = generate_ssh_key(owner, f"form key {host}")
    return {
        "name": "probe",
        "host": host,
        "port": port,
        "username": "root",
        "credential": key.pk,
        "mail_hostname": "mail.example.test",
        "tls_mode": "self_signed",
    }


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("[::1]", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.9.9.9", "private"),
    ],
)
def test_adding_a_server_at_a_refused_address_changes_nothing(
    owner_client: Client, user: User, host: str, kind: str
) -> None:
    response = owner_client.post("/servers/add/", add_form(user, host))

    assert response.status_code == 200
    assert re.search(f"is an? {kind}", response.content.decode())
    assert not Server.objects.filter(owner=user).exists()


def test_private_ranges_are_allowed_by_default(
    owner_client: Client, user: User, settings: SettingsWrapper
) -> None:
    settings.SERVER_NETWORKS_ALLOWED = ["10.0.0.0/8", "192.168.0.0/16"]

    response = owner_client.post("/servers/add/", add_form(user, "192.168.77.10"))

    assert response.status_code == 302
    assert Server.objects.get(owner=user).host == "192.168.77.10"


def test_opening_the_host_key_page_makes_no_connection(
    owner_client: Client, user: User, listener: Listener, settings: SettingsWrapper
) -> None:
    settings.SERVER_NETWORKS_ALLOWED = LOOPBACK_ALLOWED
    server = stored_server(user, "127.0.0.1", listener.port)

    page = owner_client.get(f"/servers/{server.pk}/host-key/")
    setup = owner_client.get(f"/dns/setup/{server.pk}/")

    assert page.status_code == 200 and setup.status_code == 200
    assert "Fetch the host key" in page.content.decode()
    assert "Fetch the host key" in setup.content.decode()
    assert listener.accepted == 0
    owner_client.post(f"/servers/{server.pk}/host-key/", {"fetch": "1"})
    assert listener.accepted >= 1  # the button, a POST, is what connects


def test_a_stored_refused_address_is_refused_again_at_connect_time(
    owner_client: Client, user: User, listener: Listener
) -> None:
    server = stored_server(user, "127.0.0.1", listener.port)
    named = stored_server(user, "localhost", listener.port)

    for target in (server, named):
        response = owner_client.post(f"/servers/{target.pk}/host-key/", {"fetch": "1"}, follow=True)
        assert "is a loopback address" in response.content.decode()

    assert listener.accepted == 0


def test_a_failed_connection_does_not_tell_closed_from_open_ports(
    owner_client: Client, user: User, listener: Listener, settings: SettingsWrapper
) -> None:
    settings.SERVER_NETWORKS_ALLOWED = LOOPBACK_ALLOWED
    listener.reply = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    closed = stored_server(user, "127.0.0.1", closed_port())
    not_ssh = stored_server(user, "127.0.0.1", listener.port)

    def error_of(server: Server) -> str:
        page = owner_client.post(f"/servers/{server.pk}/host-key/", {"fetch": "1"}, follow=True)
        text = page.content.decode()
        start = text.index("No SSH server answered")
        return text[start : text.index("<", start)].replace(str(server.port), "PORT")

    assert listener.accepted == 0
    assert error_of(closed) == error_of(not_ssh)
    assert listener.accepted == 1
