"""Application logs as the privacy policy describes them: the web command's console and
log file hold no confirmation key, reset key or token from a URL, name a signed-in user
by id and never by email, and old log files go when the retention period says so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import structlog
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from pytest_django.fixtures import Settings

from mailpanel.accounts.models import User
from mailpanel.logs import DailyLogFile, purge_log_files, redact_path, scrub
from tests.factories import DEFAULT_PASSWORD, UserFactory

CANARY_URLS = {
    "/account/confirm-email/CANARYKEY123abc/": "/account/confirm-email/[redacted]/",
    "/account/password/reset/key/1-CANARYRESET456/": "/account/password/reset/key/[redacted]/",
    "/?key=CANARYQ789&token=CANARYT000": "/?key=[redacted]&token=[redacted]",
}
CANARIES = ["CANARYKEY123abc", "CANARYRESET456", "CANARYQ789", "CANARYT000"]
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _test_database_url() -> str:
    """The database this test run uses, for a panel started as its own process."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class WebCommand:
    """``mailpanel web`` running in a process of its own, with a data folder of its own."""

    base: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    output: Path

    def stop(self) -> str:
        """Stop it; everything it wrote to stdout and stderr."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        return self.output.read_text()

    def log_file(self) -> str:
        return (self.data_dir / "logs" / "mailpanel-web.log").read_text()


def _wait_for_port(command: WebCommand, port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert command.process.poll() is None, command.output.read_text()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("mailpanel web did not start")


@pytest.fixture
def web_command(tmp_path: Path) -> Iterator[Callable[..., WebCommand]]:
    """Start ``python -m mailpanel.cli web`` on the test database, as an operator would."""
    started: list[WebCommand] = []

    def start(**env: str) -> WebCommand:
        port = _free_port()
        data_dir = tmp_path / f"data-{port}"
        environment = os.environ | env
        environment |= {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "MAILPANEL_DATA_DIR": str(data_dir),
            "DATABASE_URL": _test_database_url(),
        }
        environment.pop("MAILPANEL_LOG_FILE", None)  # the default: the data folder
        output = tmp_path / f"output-{port}.txt"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailpanel.cli", "web", "--port", str(port)],
                cwd=settings.BASE_DIR.parent,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        command = WebCommand(f"http://127.0.0.1:{port}", data_dir, process, output)
        started.append(command)
        _wait_for_port(command, port)
        return command

    cache.clear()  # the login limits live in the cache (Redis on the PostgreSQL run)
    yield start
    for command in started:
        command.stop()


def sign_in(http: httpx.Client, email: str) -> None:
    page = http.get("/account/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "the login form carries a CSRF token"
    data = {"login": email, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token[1]}
    assert http.post("/account/login/", data=data).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_the_web_command_logs_no_key_or_token_from_a_url(
    web_command: Callable[..., WebCommand],
) -> None:
    panel = web_command()
    with httpx.Client(base_url=panel.base) as http:
        responses = {url: http.get(url) for url in CANARY_URLS}
    console, log_file = panel.stop(), panel.log_file()

    for canary in CANARIES:
        assert canary not in console
        assert canary not in log_file
    lines = {line["path"]: line for line in json_lines(log_file) if line["event"] == "request"}
    for url, redacted in CANARY_URLS.items():
        line, response = lines[redacted], responses[url]
        assert line["status"] == response.status_code
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert REQUEST_ID.match(line["request_id"])
        assert line["method"] == "GET" and line["ip"] == "127.0.0.1"
        assert line["logger"] == "mailpanel.request" and line["time"].endswith("Z")
        assert redacted in console
    assert "Uvicorn running on" in console  # uvicorn's own lines take the same way


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_request_names_the_user_by_id_never_by_email(
    web_command: Callable[..., WebCommand],
) -> None:
    user = UserFactory.create(email="logged.person@example.test")
    panel = web_command(MAILPANEL_LOG_FORMAT="json")
    with httpx.Client(base_url=panel.base) as http:
        sign_in(http, user.email)
        overview = http.get("/overview/")
    console, log_file = panel.stop(), panel.log_file()

    assert overview.status_code == 200
    for text in (console, log_file):
        assert user.email not in text and "logged.person" not in text
    for text in (log_file, "\n".join(line for line in console.splitlines() if line[:1] == "{")):
        requests = [line for line in json_lines(text) if line["event"] == "request"]
        (line,) = [r for r in requests if r["request_id"] == overview.headers["X-Request-ID"]]
        assert line["user_id"] == user.pk and line["path"] == "/overview/"
        assert line["status"] == 200 and isinstance(line["duration_ms"], float)


def _request_line(request_id: str) -> dict[str, Any]:
    assert settings.LOG_FILE is not None, "the tests write the log file"
    lines = json_lines(Path(settings.LOG_FILE).read_text())
    (line,) = [line for line in lines if line.get("request_id") == request_id]
    return line


def test_the_sync_path_logs_the_user_id_under_the_proxys_request_id(
    owner_client: Client, user: User
) -> None:
    response = owner_client.get("/overview/", headers={"X-Request-ID": "proxy-id.0042"})

    assert response["X-Request-ID"] == "proxy-id.0042"
    line = _request_line("proxy-id.0042")
    assert line["user_id"] == user.pk and line["status"] == 200
    assert user.email not in json.dumps(line)


@pytest.mark.parametrize("forged", ["short", "x" * 65, "abc def ghi", 'ab"},{"user_id":1'])
@pytest.mark.django_db
def test_a_request_id_of_the_wrong_shape_is_replaced(forged: str) -> None:
    response = Client().get("/", headers={"X-Request-ID": forged})

    assert REQUEST_ID.match(response["X-Request-ID"])
    assert _request_line(response["X-Request-ID"])["user_id"] is None


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/account/confirm-email/Mjg:1tA:x-y_z/", "/account/confirm-email/[redacted]/"),
        ("/account/password/reset/key/1z-ab4-c9f/", "/account/password/reset/key/[redacted]/"),
        ("/account/password/reset/key/1z-set-password/", "/account/password/reset/key/[redacted]/"),
        ("/account/password/reset/key/done/", "/account/password/reset/key/done/"),
        ("/overview/?page=2&q=mail", "/overview/?page=2&q=mail"),
        (
            "/x/?next=/a/&t=1&api_key=2&Signature=3&sig=4&code=5&secret=6&password=7&%74oken=8",
            "/x/?next=/a/&t=[redacted]&api_key=[redacted]&Signature=[redacted]&sig=[redacted]"
            "&code=[redacted]&secret=[redacted]&password=[redacted]&%74oken=[redacted]",
        ),
    ],
)
def test_redact_path_hides_keys_and_secret_query_values(path: str, logged: str) -> None:
    assert redact_path(path) == logged


def test_a_key_url_in_a_librarys_message_is_scrubbed_in_the_log_file() -> None:
    logging.getLogger("tests.somelibrary").warning(
        "fetching %s", "https://panel.test/account/confirm-email/CANARYLIB1/?sig=CANARYLIB2&x=1"
    )
    structlog.get_logger("tests").info("seen", url="/account/password/reset/key/2-CANARYLIB3/")

    assert settings.LOG_FILE is not None
    text = Path(settings.LOG_FILE).read_text()
    assert "confirm-email/[redacted]/?sig=[redacted]&x=1" in text
    assert "CANARYLIB" not in text
    assert scrub('GET "/?auth_token=abc" 200') == 'GET "/?auth_token=[redacted]" 200'


def _aged(path: Path, when: datetime) -> Path:
    path.write_text("{}\n")
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


@pytest.fixture
def live_log_file(tmp_path: Path, settings: Settings) -> Iterator[Path]:
    """A log folder of this test's own, whose mailpanel.log this process is writing."""
    settings.LOG_FILE = tmp_path / "logs" / "mailpanel.log"
    settings.LOG_FILE.parent.mkdir()
    handler, root = DailyLogFile(str(settings.LOG_FILE)), logging.getLogger()
    root.addHandler(handler)
    structlog.get_logger("tests").info("the live file exists")  # written now, years "ago"
    yield settings.LOG_FILE
    root.removeHandler(handler)
    handler.close()


def test_purge_deletes_log_files_older_than_the_period_but_never_the_live_one(
    live_log_file: Path,
) -> None:
    folder, now = live_log_file.parent, datetime(2030, 1, 31, 12, tzinfo=UTC)
    old = [
        _aged(folder / "mailpanel-web.log.2029-12-01", datetime(2029, 12, 2, tzinfo=UTC)),
        _aged(folder / "mailpanel-worker.log", datetime(2029, 11, 1, tzinfo=UTC)),
    ]
    kept = [
        _aged(folder / "mailpanel.log.2030-01-15", datetime(2030, 1, 16, tzinfo=UTC)),
        _aged(folder / "mailpanel-web.log", datetime(2030, 1, 30, tzinfo=UTC)),
        _aged(folder / "someone-else.log", datetime(2020, 1, 1, tzinfo=UTC)),
    ]

    assert purge_log_files(30, now=now) == 2
    assert [p.exists() for p in old] == [False, False]
    assert all(p.exists() for p in kept) and live_log_file.exists()
    assert purge_log_files(0, now=now) == 2  # 0 days: everything but the live file
    assert sorted(p.name for p in folder.iterdir()) == ["mailpanel.log", "someone-else.log"]


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("tests", logging.INFO, __file__, 1, message, None, None)


def test_two_processes_on_one_file_rotate_it_once_at_midnight_utc(tmp_path: Path) -> None:
    path = tmp_path / "mailpanel-web.log"
    with time_machine.travel(datetime(2030, 1, 1, 23, 59, tzinfo=UTC), tick=False) as clock:
        first, second = DailyLogFile(str(path)), DailyLogFile(str(path))
        first.handle(_record("a1"))
        second.handle(_record("b1"))
        clock.move_to(datetime(2030, 1, 2, 0, 1, tzinfo=UTC))
        second.handle(_record("b2"))
        first.handle(_record("a2"))
        first.handle(_record("a3"))
    first.close()
    second.close()

    assert (tmp_path / "mailpanel-web.log.2030-01-01").read_text().split() == ["a1", "b1"]
    assert path.read_text().split() == ["b2", "a2", "a3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mailpanel-web.log",
        "mailpanel-web.log.2030-01-01",
    ]
    assert path.stat().st_mode & 0o777 == 0o600
