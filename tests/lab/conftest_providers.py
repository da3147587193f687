"""Helpers for the provider-fake contract tests (a plain module: fixtures live in the tests)."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# Building an SSL context costs ~50 ms per httpx.Client; the fakes speak plain HTTP, so one
# shared context (never used) keeps the many short-lived clients cheap.
_SSL = ssl.create_default_context()


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client for a fake; trust_env=False so no proxy variable can route it elsewhere."""
    return httpx.Client(base_url=base_url, trust_env=False, timeout=5.0, verify=_SSL, **kwargs)


class FakeClock:
    """A monotonic clock the tests move by hand (rate-limit windows, token expiry)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def standalone(module: str, db: Path, *args: str) -> Iterator[str]:
    """Run `python -m module --db db --port 0 args...`; yields the base URL it prints."""
    cmd = [sys.executable, "-m", module, "--db", str(db), "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started
