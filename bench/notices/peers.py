"""The benchmark's peers, each a process of its own on 127.0.0.1: the lab DNS server, the
lab SMTP receiver and the panel's inbound receiver; and a guard that keeps us on loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]


class NotLoopback(RuntimeError):
    pass


def loopback_only() -> None:
    """Every socket but a Unix one may connect or send to 127.0.0.1 only."""
    socket.socket.connect = _guard(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)  # type: ignore[method-assign]
    socket.socket.sendto = _guard(socket.socket.sendto)  # type: ignore[method-assign]


def _guard(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(self: socket.socket, *args: Any) -> Any:
        address = args[-1]
        if self.family != socket.AF_UNIX and not (
            isinstance(address, tuple) and address[0] == HOST
        ):
            raise NotLoopback(f"the notices benchmark stays on {HOST}: {address!r}")
        return original(self, *args)

    return guarded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


class Peer:
    """A subprocess that serves on ``port``, its output in a log file; stopped on exit."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.args, self.port, self.log = args, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Peer:
        self._log = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *self.args],
            cwd=REPO,
            env=dict(os.environ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_listening(self.port, self.process)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()


def lab_dns(zones: Path, port: int, log: Path) -> Peer:
    """The lab DNS server with no zones: every verdict lookup is answered at once."""
    args = ["-m", "lab.dnsserver", "--db", str(zones), "--listen", HOST, "--port", str(port)]
    return Peer(args, port, log)  # it serves TCP as well as UDP


def lab_smtp(db: Path, port: int, dns_port: int, log: Path) -> Peer:
    args = ["-m", "lab.smtpreceiver", "--db", str(db), "--listen", HOST, "--port", str(port)]
    return Peer([*args, "--dns", f"{HOST}:{dns_port}"], port, log)


def panel_inbound(port: int, log: Path) -> Peer:
    return Peer(["-m", "mailpanel.cli", "inbound", "--host", HOST, "--port", str(port)], port, log)
