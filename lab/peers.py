"""The lab's outside peers: the DNS provider fakes, the fake LLM and Stripe, on loopback.

``Lab.up(peers=True)`` starts each as a subprocess in the root namespace, bound to
127.0.0.1 only, on a fixed port from ``PORTS`` (``MAILPANEL_LAB_PORT_BASE`` moves the
whole block), with accounts whose credentials are made afresh for every lab. The
provider fakes write to the lab's zone store, which the lab DNS server serves, so a
record created through a fake's API is answered by 10.200.0.2 at once. The ``stripe`` peer
is localstripe behind the lab's front (``lab.stripe_lab``): the front is the peer, and
localstripe, on its own port, is its child and ends with it.

Each peer runs in its own process session (it outlives the ``python -m lab up`` that
started it) and carries ``MAILPANEL_LAB_PEER=<name>`` in its environment. Teardown finds
peers by that tag as well as by the pids in the state file, so a lab whose state file is
lost is still cleaned up, and a recycled pid of an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
PORT_BASE = int(os.environ.get("MAILPANEL_LAB_PORT_BASE", "18800"))
# 18801-18806: clear of the ports dev servers usually take (8000, 8080, 8443...) and
# below Linux's ephemeral range (32768+), so no outgoing connection can be holding one.
PORTS = {"cloudflare": PORT_BASE + 1, "namecom": PORT_BASE + 2,
         "openprovider": PORT_BASE + 3, "llm": PORT_BASE + 4,
         "stripe": PORT_BASE + 5, "localstripe": PORT_BASE + 6}  # fmt: skip
MODULES = {
    "cloudflare": "lab.providers.cloudflare",
    "namecom": "lab.providers.namecom",
    "openprovider": "lab.providers.openprovider",
    "llm": "lab.llm",
    "stripe": "lab.stripe_lab",
}
# The Stripe SDK's api_base has no prefix: the SDK adds /v1 to every path itself.
PREFIXES = {"cloudflare": "/client/v4", "namecom": "/v4", "openprovider": "/v1beta", "llm": "/v1",
            "stripe": ""}  # fmt: skip
# The lab processor's prices (plan key -> price id, amount in cents, name), made at start,
# and where it delivers its webhooks: the panel of ``make run``.
STRIPE_PLANS = {"pro": ("price_lab_pro", 900, "Pro"),
                "business": ("price_lab_business", 4900, "Business")}  # fmt: skip
PANEL_WEBHOOK = "http://127.0.0.1:8000/billing/stripe/webhook"
# The zones each lab account holds; every one is delegated to the lab DNS server.
ZONES = {
    "cloudflare": ("example.test", "shop.test"),
    "namecom": ("namecom.test",),
    "openprovider": ("openprovider.test",),
}
TAG = "MAILPANEL_LAB_PEER"
ENV_NAMES = {
    "cloudflare": "MAILPANEL_CLOUDFLARE_API_URL",
    "namecom": "MAILPANEL_NAMECOM_API_URL",
    "openprovider": "MAILPANEL_OPENPROVIDER_API_URL",
    "llm": "MAILPANEL_NVIDIA_API_URL",
    "stripe": "MAILPANEL_STRIPE_API_URL",
}


class PeerError(RuntimeError):
    """A peer could not be started (busy port, early exit, no answer)."""


@dataclass(frozen=True, kw_only=True)
class Peers:
    """Where the lab's peers listen and the credentials of the lab accounts."""

    cloudflare_url: str
    cloudflare_token: str
    namecom_url: str
    namecom_username: str
    namecom_token: str
    openprovider_url: str
    openprovider_username: str
    openprovider_password: str
    llm_url: str
    llm_key: str
    stripe_url: str
    stripe_key: str  # MAILPANEL_STRIPE_SECRET_KEY; localstripe takes any sk_test_ key
    localstripe_url: str  # the stripe peer's backend; the panel talks to stripe_url only
    stripe_webhook_secret: str = ""  # the peer signs its deliveries to PANEL_WEBHOOK with it

    @classmethod
    def generate(cls, ports: dict[str, int] | None = None) -> Peers:
        """Fresh random credentials, shaped as the panel's vault expects the real ones."""
        ports = {**PORTS, **(ports or {})}

        def url(name: str) -> str:
            return f"http://{LOOPBACK}:{ports[name]}{PREFIXES[name]}"

        return cls(
            cloudflare_url=url("cloudflare"),
            cloudflare_token=secrets.token_urlsafe(30),  # 40 characters, as Cloudflare's
            namecom_url=url("namecom"),
            namecom_username="lab-" + secrets.token_hex(3),
            namecom_token=secrets.token_hex(20),
            openprovider_url=url("openprovider"),
            openprovider_username="lab-" + secrets.token_hex(3),
            openprovider_password=secrets.token_urlsafe(18),
            llm_url=url("llm"),
            llm_key="nvapi-" + secrets.token_urlsafe(48),
            stripe_url=url("stripe"),
            stripe_key="sk_test_" + secrets.token_hex(24),
            localstripe_url=f"http://{LOOPBACK}:{ports['localstripe']}",
            stripe_webhook_secret="whsec_" + secrets.token_hex(24),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Peers:
        return cls(**data)

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    def urls(self) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_url")) for name in MODULES}

    def port(self, name: str) -> int:
        return int(self.urls()[name].split(":")[2].split("/")[0])

    def env(self, dns_address: str) -> dict[str, str]:
        """The settings that point ``mailpanel serve`` at the lab."""
        env = {ENV_NAMES[name]: url for name, url in self.urls().items()}
        env["MAILPANEL_DNS_RESOLVERS"] = dns_address
        env["MAILPANEL_STRIPE_SECRET_KEY"] = self.stripe_key
        env["MAILPANEL_STRIPE_WEBHOOK_SECRET"] = self.stripe_webhook_secret
        for plan, (price, _, _) in STRIPE_PLANS.items():
            env[f"MAILPANEL_STRIPE_PRICE_{plan.upper()}"] = price
        return env

    @property
    def localstripe_port(self) -> int:
        return int(self.localstripe_url.rsplit(":", 1)[1])

    def args(self, name: str, zone_db: Path) -> list[str]:
        """The command-line arguments of one peer's module (after ``-m MODULE``)."""
        listen = ["--host", LOOPBACK, "--port", str(self.port(name))]
        if name == "stripe":  # its request log (what the panel sent) beside the zone store
            log = zone_db.with_name("stripe-requests.jsonl")
            plans = [f"{price}:{amount}:{name}" for price, amount, name in STRIPE_PLANS.values()]
            return [*listen, "--localstripe-port", str(self.localstripe_port), "--log", str(log),
                    "--webhook", PANEL_WEBHOOK, "--webhook-secret", self.stripe_webhook_secret,
                    *(arg for plan in plans for arg in ("--plan", plan))]  # fmt: skip
        zones = ",".join(ZONES.get(name, ()))
        if name == "cloudflare":
            account = f"{self.cloudflare_token}:{zones}"
        elif name == "namecom":
            account = f"{self.namecom_username}:{self.namecom_token}:{zones}"
        elif name == "openprovider":
            account = f"{self.openprovider_username}:{self.openprovider_password}:{zones}"
        else:
            return [*listen, f"--key={self.llm_key}"]
        # One argument with "=": a random credential may start with "-", which argparse
        # would take for an option if it came as an argument of its own.
        return ["--db", str(zone_db), *listen, f"--account={account}"]


def busy_ports(ports: Mapping[str, int] = PORTS) -> list[str]:
    """The peers whose port something on this machine already listens on."""
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR as the servers themselves set it: TIME_WAIT leftovers of an
            # earlier lab do not count as busy, a listening socket does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                busy.append(f"{name} on {LOOPBACK}:{port}")
    return busy


def spawn(peers: Peers, zone_db: Path, run_dir: Path, project_root: Path) -> dict[str, int]:
    """Start every peer in its own session (logs ``<run_dir>/<name>.log``); name -> pid."""
    ports = {name: peers.port(name) for name in MODULES}
    busy = busy_ports({**ports, "localstripe": peers.localstripe_port})
    if busy:
        raise PeerError(
            "lab: port busy for " + ", ".join(busy) + "; stop whatever listens there, or move"
            " the lab's ports with MAILPANEL_LAB_PORT_BASE"
        )
    pids = {}
    for name, module in MODULES.items():
        cmd = [sys.executable, "-m", module, *peers.args(name, zone_db)]
        env = {**os.environ, "PYTHONPATH": str(project_root), TAG: name}
        with open(run_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=project_root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        pids[name] = proc.pid
    return pids


def wait_ready(peers: Peers, pids: dict[str, int], run_dir: Path, timeout: float = 20) -> None:
    """Wait until every peer accepts connections; PeerError if one exits or stays silent."""
    waiting = dict(pids)
    deadline = time.monotonic() + timeout
    while waiting:
        for name, pid in list(waiting.items()):
            if not is_peer(pid):
                tail = _log_tail(run_dir / f"{name}.log")
                raise PeerError(f"lab: the {name} fake exited at start: {tail}")
            if _accepts(peers.port(name)):
                del waiting[name]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise PeerError(f"lab: no answer within {timeout:.0f} s from {', '.join(waiting)}")
        time.sleep(0.05)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- finding and stopping ------------------------------------------------------------


def is_peer(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process tagged as a lab peer."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        _reap([pid])
        return False
    return any(entry.startswith(TAG.encode() + b"=") for entry in environ.split(b"\0"))


def running(known: Iterable[int] = ()) -> list[int]:
    """Pids of live lab peers: the ``known`` ones still tagged, and any other tagged process."""
    candidates = set(known)
    candidates.update(int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    candidates.discard(os.getpid())
    return sorted(pid for pid in candidates if is_peer(pid))


def stop(known: Iterable[int] = (), grace: float = 3.0) -> list[int]:
    """SIGTERM every lab peer, SIGKILL what outlives ``grace``; returns the survivors."""
    pids = running(known)
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [pid for pid in pids if is_peer(pid)]
    _signal(pids, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [pid for pid in pids if is_peer(pid)]
    return pids


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pids: Iterable[int]) -> None:
    """Collect peers this process started, so none lingers as a zombie."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
