"""The lab as one object: bring up hosts and services on the lab network, tear all down.

There is one lab per machine (its names and addresses are fixed, see
``lab.netlab``). Its state is saved to ``<run_dir>/state.json`` so that
``python -m lab down`` in another process can tear it down. Teardown does not
trust the state file, though: it finds the lab's processes, mounts,
namespaces, links and firewall rules by their names, so ``up`` also cleans
whatever a crashed run left behind.

Besides hosts and the DNS/SMTP services, ``up(peers=True)`` runs the provider fakes and
the fake LLM on loopback (module ``lab.peers``; the attribute ``Lab.peers`` holds their
URLs and the lab's credentials), and the lab DNS knows every machine by name: ``vpsN.lab``,
``ns.lab``, ``mx.lab`` with PTRs, and the DNSBL zone ``dnsbl.lab`` (``lab.labnames``).

DNS for apt on a bare host: the hosts' resolv.conf points at the lab DNS
server only. When NAT is on (always for a bare-flavour host) every host
started afterwards gets the package registry's addresses, as this machine
resolved them, pinned in /etc/hosts; the firewall lets the lab reach exactly
those addresses on TCP 80/443. So ``apt-get update && apt-get install
postfix`` works over SSH on a bare host with no outside DNS. Its sources list
has deb.debian.org only (no security mirror). To match the mail image, preseed
``postfix postfix/main_mailer_type select No configuration`` first.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query

from lab import acme, images, labnames, netlab
from lab import hosts as hostlib
from lab import peers as peerlib
from lab.hosts import LabHost
from lab.peers import Peers
from lab.zonestore import ZoneStore

RUN_DIR = Path(os.environ.get("MAILPANEL_LAB_RUN", "/run/mailpanel-lab"))
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICE_MODULES = {"dns": "lab.dnsserver", "mx": "lab.smtpreceiver"}
REQUIRED_TOOLS = ("systemd-nspawn", "debootstrap", "ip", "iptables", "mount", "openssl")

__all__ = ["Lab", "LabError", "LabHost", "Peers", "services_available", "unavailable_reason"]


class LabError(RuntimeError):
    """The lab could not be brought up or torn down."""


def unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "not running as root"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None


def services_available() -> bool:
    """Whether the lab DNS server and SMTP receiver modules exist in this checkout."""
    return all(importlib.util.find_spec(module) for module in SERVICE_MODULES.values())


class Lab:
    """The lab's hosts and services. ``up`` then ``down``; both are safe to repeat."""

    bridge_address = netlab.BRIDGE_ADDRESS
    dns_address = netlab.FIXED_ADDRESSES["dns"]
    mx_address = netlab.FIXED_ADDRESSES["mx"]

    def __init__(self, run_dir: Path = RUN_DIR, cache_dir: Path = images.CACHE_DIR) -> None:
        self.run_dir = run_dir
        self.cache_dir = cache_dir
        self.hosts: list[LabHost] = []
        self.flavour = "mail"
        self.services = False
        self.registry_pins: list[str] = []
        self.peers: Peers | None = None  # base URLs and lab credentials, when peers run
        self._peer_pids: dict[str, int] = {}
        self._password = ""
        self._password_hash = ""
        self._ip_forward_before: str | None = None

    @property
    def zone_db(self) -> Path:
        return self.run_dir / "zones.sqlite"

    @property
    def mail_db(self) -> Path:
        return self.run_dir / "mail.sqlite"

    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def nat(self) -> bool:
        return bool(self.registry_pins)

    # --- bringing up -----------------------------------------------------------

    def up(self, hosts: int, flavour: str = "mail", services: bool = True,
           nat: bool = False, timeout: float | None = None,
           peers: bool = True) -> list[LabHost]:  # fmt: skip
        """Clean any stale lab, then start ``hosts`` hosts (and the DNS and SMTP services).

        NAT is enabled when ``nat`` is true or the flavour is ``bare``. With ``peers``,
        the provider fakes and the fake LLM run on loopback (see ``lab.peers``).
        """
        reason = unavailable_reason()
        if reason:
            raise LabError(f"lab: cannot start ({reason})")
        if services and not services_available():
            raise LabError("lab: services=True but lab.dnsserver/lab.smtpreceiver are missing")
        self.down()
        busy = peerlib.busy_ports() if peers else []
        if busy:  # refused before anything is built or started
            raise LabError(
                f"lab: cannot start the peers, port busy: {', '.join(busy)} (stop whatever"
                " listens there, or move the lab's ports with MAILPANEL_LAB_PORT_BASE)"
            )
        images.ensure_image(flavour, self.cache_dir)
        try:
            self._start_network(flavour, services)
            if nat or flavour == "bare":
                self.enable_nat()
            if peers:
                self._spawn_peers()  # they start while the services and hosts boot
            if services:
                self._start_services()
            self.add_hosts(hosts, flavour, timeout)
            if self.peers is not None:
                self._wait_peers()
        except BaseException as exc:
            try:
                self.down()
            except LabError as teardown:
                exc.add_note(str(teardown))
            raise
        return self.hosts

    def _start_network(self, flavour: str, services: bool) -> None:
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.flavour, self.services = flavour, services
        self._password = secrets.token_urlsafe(12)
        self._password_hash = hostlib.hash_password(self._password)
        hostlib.raise_inotify_limits()
        self._save()  # before the first resource, so another process can find the run
        ZoneStore(self.zone_db).close()  # the schema, before any reader or writer starts
        netlab.add_bridge()

    def enable_nat(self) -> None:
        """Open the way to the package registry (TCP 80/443) for hosts started from now on."""
        if self.nat:
            return
        pins = netlab.registry_addresses()
        self._ip_forward_before = netlab.enable_nat(pins)
        self.registry_pins = pins
        self._save()

    def add_hosts(self, n: int, flavour: str | None = None,
                  timeout: float | None = None) -> list[LabHost]:  # fmt: skip
        """Start ``n`` more hosts concurrently and wait until all are ready."""
        flavour = flavour or self.flavour
        if flavour == "bare":
            self.enable_nat()
        image = images.ensure_image(flavour, self.cache_dir)
        files = self._host_files()
        first = len(self.hosts) + 1
        new = []
        for number in range(first, first + n):
            name, address = f"vps{number}", netlab.vps_address(number)
            netlab.add_node(name, address)
            # Published before boot: the host's own first lookups already find it.
            labnames.add_machine(self.zone_db, labnames.host_name(name), address)
            host = hostlib.prepare(name, address, flavour, image, self.run_dir, files)
            hostlib.start(host, self.run_dir)
            new.append(host)
            self.hosts.append(host)
        self._save()
        _run_coroutine(hostlib.wait_all_ready(new, timeout or 60 + 2 * n))
        return new

    def _host_files(self) -> hostlib.HostFiles:
        key = images.ensure_lab_key(self.cache_dir)
        return hostlib.HostFiles(
            root_public_key=images.lab_public_key(self.cache_dir),
            password=self._password,
            password_hash=self._password_hash,
            root_key_path=key,
            extra_hosts=tuple((addr, netlab.REGISTRY_HOST) for addr in self.registry_pins),
        )

    @property
    def acme_address(self) -> str:
        return netlab.FIXED_ADDRESSES["acme"]

    @property
    def acme_directory(self) -> str | None:
        """The ACME directory URL of the lab's pebble, when pebble is installed."""
        return acme.directory_url(self.acme_address) if acme.available() else None

    @property
    def acme_ca_path(self) -> Path:
        """The CA that signed pebble's own HTTPS certificate (clients must trust it)."""
        return self.run_dir / "acme" / "ca.pem"

    def _start_services(self) -> None:
        for node in SERVICE_MODULES:
            netlab.add_node(node, netlab.FIXED_ADDRESSES[node])
            labnames.add_machine(
                self.zone_db, labnames.SERVICE_NAMES[node], netlab.FIXED_ADDRESSES[node]
            )
        labnames.add_receiver_domain(self.zone_db)
        dns_args = ["--db", str(self.zone_db), "--listen", self.dns_address, "--port", "53"]
        mx_args = ["--db", str(self.mail_db), "--listen", self.mx_address, "--port", "25"]
        procs = {
            "dns": self._spawn("dns", dns_args),
            "mx": self._spawn("mx", [*mx_args, "--dns", self.dns_address]),
        }
        _wait_for(lambda: _dns_answers(self.dns_address), procs["dns"], "lab DNS server")
        _wait_for(lambda: _smtp_answers(self.mx_address), procs["mx"], "lab SMTP receiver")
        if acme.available():
            self._start_acme()

    def _start_acme(self) -> None:
        netlab.add_node("acme", self.acme_address)
        labnames.add_machine(self.zone_db, "acme.lab", self.acme_address)
        args = ["--listen", self.acme_address, "--dns", self.dns_address,
                "--dir", str(self.run_dir / "acme")]  # fmt: skip
        proc = self._spawn("acme", args, module="lab.acme")
        port = acme.ACME_PORT
        _wait_for(lambda: _tcp_answers(self.acme_address, port), proc, "lab ACME server")

    def _spawn_peers(self) -> None:
        self.peers = Peers.generate()
        try:
            self._peer_pids = peerlib.spawn(self.peers, self.zone_db, self.run_dir, PROJECT_ROOT)
        except peerlib.PeerError as exc:
            raise LabError(str(exc)) from exc
        finally:
            self._save()  # pids and credentials, also of a half-started set

    def _wait_peers(self) -> None:
        assert self.peers is not None
        try:
            peerlib.wait_ready(self.peers, self._peer_pids, self.run_dir)
        except peerlib.PeerError as exc:
            raise LabError(str(exc)) from exc

    def dnsbl_list(self, address: str, reason: str = "Listed by the lab DNSBL") -> str:
        """List ``address`` in the lab DNSBL (``dnsbl.lab``); returns the listed name."""
        return labnames.list_in_dnsbl(self.zone_db, address, reason)

    def dnsbl_delist(self, address: str) -> None:
        labnames.delist_from_dnsbl(self.zone_db, address)

    def _spawn(
        self, node: str, args: list[str], module: str | None = None
    ) -> subprocess.Popen[bytes]:
        ns = netlab.netns_name(node)
        module = module or SERVICE_MODULES[node]
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", module, *args]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        with open(self.run_dir / f"{node}.log", "wb") as log:
            return subprocess.Popen(
                cmd, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    # --- tearing down ------------------------------------------------------------

    def down(self) -> None:
        """Tear down the lab (this one or a stale one) and check that nothing remains."""
        saved = self._load_state()
        known_peers = [*self._peer_pids.values(), *saved.get("peer_pids", {}).values()]
        peerlib.stop(known_peers)
        hostlib.stop_all()
        hostlib.unmount_all(self.run_dir)
        netlab.remove_network()
        netlab.restore_ip_forward(self._ip_forward_before or saved.get("ip_forward_before"))
        left = self.leftovers()
        if left:
            raise LabError("lab: teardown left " + "; ".join(left))
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.hosts, self.registry_pins, self._ip_forward_before = [], [], None
        self.peers, self._peer_pids = None, {}

    def leftovers(self) -> list[str]:
        """Every lab resource that exists on this machine right now."""
        found = netlab.leftovers()
        found += [f"mount {point}" for point in hostlib.lab_mounts(self.run_dir)]
        found += [f"nspawn pid {pid}" for pid in hostlib.lab_nspawn_pids()]
        found += [f"peer pid {pid}" for pid in peerlib.running(self._peer_pids.values())]
        for ns in netlab.lab_namespaces():
            pids = netlab.namespace_pids(ns)
            if pids:
                found.append(f"{len(pids)} processes in {ns}")
        return found

    # --- state --------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "pid": os.getpid(),
            "saved_at": time.time(),
            "flavour": self.flavour,
            "services": self.services,
            "password": self._password,
            "password_hash": self._password_hash,
            "registry_pins": self.registry_pins,
            "ip_forward_before": self._ip_forward_before,
            "hosts": [host.to_json() for host in self.hosts],
            "peers": self.peers.to_json() if self.peers else None,
            "peer_pids": self._peer_pids,
        }
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state, out, indent=1)
        tmp.rename(self.state_path)

    def _load_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return state

    @classmethod
    def attach(cls, run_dir: Path = RUN_DIR, cache_dir: Path = images.CACHE_DIR) -> Lab:
        """The lab that another process brought up, from its state file."""
        lab = cls(run_dir, cache_dir)
        state = lab._load_state()
        if not state:
            raise LabError(f"lab: no lab state in {lab.state_path}")
        lab.flavour, lab.services = state["flavour"], state["services"]
        lab._password, lab._password_hash = state["password"], state["password_hash"]
        lab.registry_pins = state["registry_pins"]
        lab._ip_forward_before = state["ip_forward_before"]
        lab.hosts = [LabHost.from_json(host) for host in state["hosts"]]
        lab.peers = Peers.from_json(state["peers"]) if state.get("peers") else None
        lab._peer_pids = {name: int(pid) for name, pid in state.get("peer_pids", {}).items()}
        return lab


def _run_coroutine(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion, also when called from code inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    # asyncio.run refuses to nest: give the coroutine a loop of its own in a thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def _wait_for(
    check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"lab: the {what} exited with {proc.returncode} (see its log)")
        if check():
            return
        time.sleep(0.2)
    raise LabError(f"lab: the {what} did not answer within {timeout:.0f} s")


def _dns_answers(address: str) -> bool:
    try:
        dns.query.udp(dns.message.make_query("lab.", "SOA"), address, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return False
    return True


def _tcp_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def _smtp_answers(address: str) -> bool:
    try:
        return netlab.tcp_banner(address, 25).startswith(b"220")
    except OSError:
        return False
