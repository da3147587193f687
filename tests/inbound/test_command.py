"""``mailpanel inbound`` and ``mailpanel serve`` as an operator starts them: real processes."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser.conftest import SAFE_ENV, free_port, wait_until_up
from tests.inbound.conftest import raw_mail

ROOT = Path(__file__).resolve().parents[2]
PRIVACY = "privacy@mailpanel.localhost"  # the embedded default (settings.py)
LISTENING = re.compile(r"mailpanel inbound: receiving mail for .* on 127\.0\.0\.1:(\d+)")


def command_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh installation: its own data folder, SQLite, no peers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILPANEL_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return {**env, **SAFE_ENV, "MAILPANEL_DATA_DIR": str(data_dir), **extra}


def mailpanel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailpanel.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@contextmanager
def started(*args: str, env: dict[str, str], output: Path) -> Iterator[subprocess.Popen[bytes]]:
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailpanel.cli", *args],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_output(
    output: Path, pattern: re.Pattern[str], process: subprocess.Popen[bytes]
) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = pattern.search(output.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {output.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"never printed {pattern.pattern!r}: {output.read_text()}")


def stored_rows(data_dir: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(data_dir / "mailpanel.sqlite3") as db:
        query = "SELECT message_id, subject, rcpt_to, raw_file FROM inbound_inboundmessage"
        return list(db.execute(query))


def wait_for_rows(data_dir: Path) -> list[tuple[str, str, str, str]]:
    deadline = time.monotonic() + 10
    while not (rows := stored_rows(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


MESSAGE = raw_mail(
    "From: Ann <ann@example.test>",
    f"To: {PRIVACY}",
    "Subject: data request",
    "Message-ID: <command-1@example.test>",
)


def test_the_inbound_command_stores_a_message_in_its_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = command_env(data_dir)
    assert mailpanel("manage", "migrate", "--no-input", "-v", "0", env=env).returncode == 0

    with started("inbound", "--port", "0", env=env, output=tmp_path / "out.txt") as process:
        port = int(wait_for_output(tmp_path / "out.txt", LISTENING, process))
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            assert smtp.sendmail("ann@example.test", [PRIVACY], MESSAGE) == {}
        rows = stored_rows(data_dir)  # stored before the 250: no waiting
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0

    assert [row[:3] for row in rows] == [
        ("<command-1@example.test>", "data request", f'["{PRIVACY}"]')
    ]
    assert (data_dir / "inbound" / rows[0][3]).read_bytes() == MESSAGE
    assert (data_dir / "logs" / "mailpanel-inbound.log").exists()


def test_a_taken_port_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        result = mailpanel("inbound", "--port", str(port), env=command_env(tmp_path / "data"))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"mailpanel inbound: cannot listen on 127.0.0.1:{port}: Address already in use" in (
        result.stderr
    )
    assert "--port or MAILPANEL_INBOUND_PORT" in result.stderr


@pytest.mark.slow
def test_serve_starts_the_receiver_beside_web_and_worker(tmp_path: Path) -> None:
    data_dir, inbound_port, web_port = tmp_path / "data", free_port(), free_port()
    env = command_env(data_dir, MAILPANEL_INBOUND_PORT=str(inbound_port))
    output = tmp_path / "serve.txt"

    with started("serve", "--port", str(web_port), env=env, output=output) as process:
        wait_until_up(f"http://127.0.0.1:{web_port}/", process)
        wait_for_output(output, LISTENING, process)
        with smtplib.SMTP("127.0.0.1", inbound_port, timeout=10) as smtp:
            assert smtp.sendmail("ann@example.test", [PRIVACY], MESSAGE) == {}
        rows = wait_for_rows(data_dir)

    assert [row[0] for row in rows] == ["<command-1@example.test>"]
    assert f"is received by SMTP\n  on 127.0.0.1:{inbound_port}" in output.read_text()


@pytest.mark.slow
def test_serve_with_the_inbound_port_taken_says_so_and_serves_the_panel(tmp_path: Path) -> None:
    output, web_port = tmp_path / "serve.txt", free_port()
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = holder.getsockname()[1]
        env = command_env(tmp_path / "data", MAILPANEL_INBOUND_PORT=str(taken))
        with started("serve", "--port", str(web_port), env=env, output=output) as process:
            wait_until_up(f"http://127.0.0.1:{web_port}/", process)

    text = output.read_text()
    assert f"the inbound mail receiver cannot listen on 127.0.0.1:{taken}" in text
    assert "Running without it" in text
    assert "Traceback" not in text
