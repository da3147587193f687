"""pytest plugin for the lab: the session-wide ``lab`` fixture and ``lab_factory``.

``lab`` brings the lab up once per session (``--lab-hosts`` or
``MAILPANEL_LAB_HOSTS`` hosts of the mail flavour, default 2; the DNS and SMTP
services when their modules exist; the provider fakes and the fake LLM on
loopback, ``lab.peers``) and always tears it down at the end, also after a
failure, Ctrl-C or SIGTERM.

``lab_factory`` is for tests that need the machine's lab to themselves (a
bare-flavour lab, teardown and crash checks): it takes the session lab down
first, hands out ``Lab`` objects, and tears everything down afterwards. Tests
that use it are moved to the end of the session so the session lab starts once.

Where the lab cannot start, lab tests skip with one line; with ``CI=true``
they fail instead.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

import pytest

from lab.lab import Lab, LabError, services_available, unavailable_reason
from lab.lock import hold_machine_lock

ENV_HOSTS = "MAILPANEL_LAB_HOSTS"
DEFAULT_HOSTS = 2
EXCLUSIVE_FIXTURE = "lab_factory"
SKIP_REASONS = ("lab: needs root", "lab: could not start")


def lab_root_available() -> bool:
    """Whether this machine can run the lab (root, systemd-nspawn, debootstrap, ip...)."""
    return unavailable_reason() is None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("lab").addoption(
        "--lab-hosts", type=int, default=None, help=f"hosts in the session lab ({ENV_HOSTS})"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order lab tests after pytest-django has ordered the database tests (stable sort).

    The lab's own tests check hosts as the lab made them, so they run first, before any
    test provisions a host (hostname, services, NAT); tests that take the machine's lab
    for themselves run last.
    """

    def place(item: pytest.Item) -> int:
        if EXCLUSIVE_FIXTURE in getattr(item, "fixturenames", ()):
            return 2
        return 0 if item.nodeid.startswith("tests/lab/") else 1

    items.sort(key=place)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # pytest reports a fixture's skip at each test; one location folds them into one line.
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and _is_lab_skip(longrepr[2]):
        report.longrepr = (__file__, 1, longrepr[2])
    return report


def _is_lab_skip(reason: str) -> bool:
    return reason.removeprefix("Skipped: ").startswith(SKIP_REASONS)


def _cannot_start(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)  # the reason starts with one of SKIP_REASONS


def _require_lab() -> None:
    reason = unavailable_reason()
    if reason:
        _cannot_start(f"lab: needs root and systemd-nspawn ({reason})")
    hold_machine_lock()


@dataclass
class _Session:
    """The session lab and how it was started, so it can be restarted after an exclusive test."""

    lab: Lab | None = None
    hosts: int = DEFAULT_HOSTS
    services: bool = False
    taken_down: bool = False

    def start(self) -> None:
        assert self.lab is not None
        try:
            self.lab.up(self.hosts, flavour="mail", services=self.services)
        except LabError as exc:
            _cannot_start(f"lab: could not start ({exc})")
        self.taken_down = False


_SESSION = _Session()


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so pytest still runs the lab's teardown."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The lab, up for the whole session: ``lab.hosts``, ``lab.dns_address``, ..."""
    _require_lab()
    option = request.config.getoption("lab_hosts")
    _SESSION.hosts = int(option or os.environ.get(ENV_HOSTS, DEFAULT_HOSTS))
    _SESSION.services = services_available()
    _SESSION.lab = Lab()
    with _sigterm_interrupts():
        try:
            _SESSION.start()
            yield _SESSION.lab
        finally:
            _SESSION.lab.down()
            _SESSION.lab = None


@pytest.fixture(autouse=True)
def _lab_restarted(request: pytest.FixtureRequest) -> None:
    """Bring the session lab back for a test that needs it after an exclusive test."""
    if _SESSION.taken_down and _SESSION.lab is not None and "lab" in request.fixturenames:
        _SESSION.start()


@pytest.fixture
def lab_factory() -> Iterator[Callable[[], Lab]]:
    """Make ``Lab`` objects with the machine's lab to this test alone; tear all down after."""
    _require_lab()
    if _SESSION.lab is not None and not _SESSION.taken_down:
        _SESSION.lab.down()
        _SESSION.taken_down = True
    with _sigterm_interrupts():
        try:
            yield Lab
        finally:
            # Finds and removes whatever any Lab of this test left, by name.
            Lab().down()
