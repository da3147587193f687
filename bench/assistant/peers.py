"""A throwaway panel for the benchmark: data folder, user, key, profile, session, processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
KEY = "nvapi-BenchmarkKey_0123456789abcdefgh"


@dataclass
class Peers:
    panel_url: str
    llm_url: str  # ends in /v1
    cookies: dict[str, str]
    processes: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url}")


def prepare_django(data_dir: Path, llm_url: str) -> None:
    """The same settings the web process reads, so both share one database and vault."""
    for name in [k for k in os.environ if k.startswith("MAILPANEL_")]:
        del os.environ[name]
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mailpanel.settings",
        MAILPANEL_DATA_DIR=str(data_dir),
        MAILPANEL_NVIDIA_API_URL=llm_url,
        MAILPANEL_LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", "-v", "0")


def bench_user() -> tuple[Any, dict[str, str]]:
    """A user with a chosen NVIDIA key, and a signed-in session's cookies."""
    from django.test import Client
    from django.utils import timezone

    from mailpanel.accounts.models import User
    from mailpanel.assistant.models import AssistantProfile
    from mailpanel.vault.actions import create_credential

    user = User.objects.create_user("bench@example.test", "bench passphrase 1234", full_name="B")
    credential = create_credential(user, "nvidia", "bench key", {"api_key": KEY})
    AssistantProfile.objects.create(
        owner=user,
        credential=credential,
        model_id="deepseek-ai/deepseek-v3-0324",
        checked_at=timezone.now(),
    )
    client = Client()
    client.force_login(user)
    return user, {name: morsel.value for name, morsel in client.cookies.items()}


def start(data_dir: Path, pace_ms: float) -> Peers:
    """The fake endpoint and one web process (uvicorn), each a process of its own."""
    llm_port, web_port = free_port(), free_port()
    command = [sys.executable, "-m", "lab.llm", "--port", str(llm_port), "--key", KEY]
    llm = subprocess.Popen(
        [*command, "--pace-ms", str(pace_ms)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    llm_url = f"http://127.0.0.1:{llm_port}/v1"
    wait_up(llm_url + "/models", llm)
    prepare_django(data_dir, llm_url)
    _, cookies = bench_user()
    log = (data_dir / "web.log").open("wb")
    web = subprocess.Popen(
        [sys.executable, "-m", "mailpanel.cli", "web", "--port", str(web_port)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    panel_url = f"http://127.0.0.1:{web_port}"
    wait_up(panel_url + "/", web)
    return Peers(panel_url, llm_url, cookies, [web, llm])
