"""A real panel (``mailpanel serve``: ASGI web + worker) in a fresh data folder, and Chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@dataclass
class Panel:
    url: str
    data_dir: Path

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mailpanel serve exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mailpanel serve did not answer at {url} in {timeout} s")


# Every outside peer points at loopback: the discard port refuses, nothing leaves.
SAFE_ENV = {
    "MAILPANEL_DNS_RESOLVERS": "127.0.0.1",
    "MAILPANEL_DNS_RESOLVER_PORT": "9",
    "MAILPANEL_CLOUDFLARE_API_URL": "http://127.0.0.1:9",
    "MAILPANEL_NAMECOM_API_URL": "http://127.0.0.1:9",
    "MAILPANEL_OPENPROVIDER_API_URL": "http://127.0.0.1:9",
    "MAILPANEL_NVIDIA_API_URL": "http://127.0.0.1:9",
    "MAILPANEL_ACME_DIRECTORY": "https://127.0.0.1:9/dir",
}


@contextmanager
def running_panel(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Panel]:
    """``mailpanel serve`` (web + worker) on a free port, with a data folder of its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILPANEL_", "DJANGO_"))}
    env.update(SAFE_ENV)
    env.update(MAILPANEL_DATA_DIR=str(data_dir), MAILPANEL_JOB_HEARTBEAT_SECONDS="1")
    env["MAILPANEL_INBOUND_PORT"] = str(free_port())  # two panels never share 2525
    url = f"http://127.0.0.1:{port}"
    env["MAILPANEL_PUBLIC_URL"] = url  # links in mail and the processor's return addresses
    env.update(extra_env or {})
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailpanel.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(url + "/", process)
        yield Panel(url=url, data_dir=data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    with running_panel(tmp_path_factory.mktemp("panel-data")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need {CHROMIUM} (make test installs it)")
        pytest.skip(f"browser: {CHROMIUM} is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def newest_mail(outbox: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = (
            sorted(outbox.glob("*.log"), key=lambda p: p.stat().st_mtime) if outbox.exists() else []
        )
        if files:
            return files[-1].read_text()
        time.sleep(0.2)
    raise AssertionError(f"no mail in {outbox}")


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None


def sign_up_and_verify(page: Any, panel: Panel, email: str, password: str) -> None:
    """A new account, through the signup form and the link in the outbox."""
    page.goto(panel.url + "/account/signup/")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_label("Password (again)").fill(password)
    page.get_by_label("I am 18 or older").check()
    page.get_by_label("I have read and accept the privacy policy").check()
    page.get_by_label("I agree that what an action needs goes").check()
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/account/confirm-email/")
    link = re.search(r"http://\S+/account/confirm-email/\S+/", newest_mail(panel.outbox))
    assert link, "verification link missing from the outbox mail"
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/overview/")


def wait_for_job(page: Any, timeout: float = 120_000) -> str:
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}/$"))
    page.wait_for_selector("section.job[data-finished='true']", timeout=timeout)
    return str(page.locator("[data-job-state]").inner_text())


def add_provisioned_server(page: Any, panel: Panel, host: Any, name: str) -> str:
    """Store the lab key, add the server, pin its key, provision it; returns its page URL."""
    page.goto(panel.url + "/credentials/add/?kind=ssh_key")
    page.get_by_label("Name", exact=True).fill(f"{name} key")
    page.get_by_label("Private key").fill(host.root_key_path.read_text())
    page.get_by_role("button", name="Store encrypted").click()
    page.wait_for_url("**/credentials/*/")

    page.goto(panel.url + "/servers/add/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Host", exact=True).fill(host.address)
    page.get_by_label("Login").select_option(label=f"{name} key")
    page.get_by_label("Mail hostname").fill(f"{host.name}.lab")
    page.get_by_role("button", name="Add and check its host key").click()
    assert page.locator("[data-fingerprint]").inner_text() == host.host_key_fingerprint
    page.get_by_role("button", name="The key matches: pin it").click()
    assert wait_for_job(page) == "Succeeded"

    page.goto(panel.url + "/servers/")
    page.get_by_role("link", name=name, exact=True).click()
    server_url = str(page.url)
    page.get_by_role("button", name="Provision / converge the mail stack").click()
    assert wait_for_job(page) == "Succeeded"
    return server_url
