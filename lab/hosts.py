"""The lab's VPS hosts: one systemd-nspawn container per host, booted from an image.

Each host runs on an overlayfs whose lower layer is the cached image (see
``lab.images``) and whose upper layer lives in the run directory, so the image
is never written. Before boot the host gets files of its own through the
overlay: an ed25519 host key (its SHA256 fingerprint is recorded, so tests can
compare it with what the panel shows), root's authorized_keys with the lab
key, the deploy user's password, its host name and /etc/hosts.

Containers run in their own process session (a starter that is killed would
otherwise take them down with it) and log their console to ``nspawn.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncssh

from lab import netlab

READY_STATES = ("running", "degraded")
INOTIFY_LIMITS = {"max_user_instances": 8192, "max_user_watches": 524288}


class HostError(RuntimeError):
    """A lab host could not be started or did not become ready."""


@dataclass(frozen=True, kw_only=True)
class LabHost:
    """One lab VPS as a test or a person connects to it."""

    name: str
    address: str
    root_key_path: Path
    password: str
    host_key_fingerprint: str
    host_public_key: str
    ssh_port: int = 22
    user: str = "deploy"
    flavour: str = "mail"

    @property
    def netns(self) -> str:
        return netlab.netns_name(self.name)

    def known_hosts(self) -> str:
        """A known_hosts line that pins this host's key."""
        return f"{self.address} {self.host_public_key}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["root_key_path"] = str(self.root_key_path)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabHost:
        return cls(**{**data, "root_key_path": Path(data["root_key_path"])})


@dataclass(frozen=True)
class HostFiles:
    """What every host of one lab gets, apart from its own host key."""

    root_public_key: str
    password: str
    password_hash: str
    root_key_path: Path
    extra_hosts: tuple[tuple[str, str], ...] = ()


def raise_inotify_limits() -> None:
    """Raise (never lower) the inotify limits: systemd in the 16th container fails at 128."""
    for name, wanted in INOTIFY_LIMITS.items():
        path = Path("/proc/sys/fs/inotify") / name
        if int(path.read_text()) < wanted:
            path.write_text(f"{wanted}\n")


def hash_password(password: str) -> str:
    return netlab.run(["openssl", "passwd", "-6", "-stdin"], input_text=password + "\n").strip()


def host_dir(run_dir: Path, name: str) -> Path:
    return run_dir / "hosts" / name


def prepare(name: str, address: str, flavour: str, image: Path, run_dir: Path,
            files: HostFiles) -> LabHost:  # fmt: skip
    """Mount the host's overlay and write its own files; return the host."""
    merged = _mount_overlay(host_dir(run_dir, name), image)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"root@{name}")
    _write(merged / "etc/ssh/ssh_host_ed25519_key", key.export_private_key("openssh"), 0o600)
    public = key.export_public_key("openssh").decode().strip()
    _write(merged / "etc/ssh/ssh_host_ed25519_key.pub", (public + "\n").encode(), 0o644)
    (merged / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    _write(merged / "root/.ssh/authorized_keys", (files.root_public_key + "\n").encode(), 0o600)
    _set_password_hash(merged / "etc/shadow", "deploy", files.password_hash)
    (merged / "etc/hostname").write_text(name + "\n")
    (merged / "etc/hosts").write_text(_hosts_file(name, files.extra_hosts))
    return LabHost(
        name=name,
        address=address,
        root_key_path=files.root_key_path,
        password=files.password,
        host_key_fingerprint=key.get_fingerprint("sha256"),
        host_public_key=public,
        flavour=flavour,
    )


def _mount_overlay(directory: Path, image: Path) -> Path:
    upper, work, merged = directory / "upper", directory / "work", directory / "merged"
    for path in (upper, work, merged):
        path.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={image},upperdir={upper},workdir={work}"
    netlab.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)])
    return merged


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def _set_password_hash(shadow: Path, user: str, password_hash: str) -> None:
    lines = shadow.read_text().splitlines()
    for index, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == user:
            fields[1] = password_hash
            lines[index] = ":".join(fields)
    # Rewritten in place so the file keeps its owner (root:shadow) and mode.
    with open(shadow, "r+") as out:
        out.write("\n".join(lines) + "\n")
        out.truncate()


def _hosts_file(name: str, extra: Iterable[tuple[str, str]]) -> str:
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{name}", "::1\tlocalhost ip6-localhost"]
    lines += [f"{address}\t{hostname}" for address, hostname in extra]
    return "\n".join(lines) + "\n"


def start(host: LabHost, run_dir: Path) -> int:
    """Boot the host's container in its own session; return the nspawn pid."""
    directory = host_dir(run_dir, host.name)
    cmd = [
        "systemd-nspawn",
        "--directory", str(directory / "merged"),
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "--machine", host.netns,
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
    ]  # fmt: skip
    with open(directory / "nspawn.log", "wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return proc.pid


async def wait_ready(host: LabHost, timeout: float) -> str:
    """Wait until the host's sshd answers and systemd finished booting; return its state."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            return await _system_state(host, deadline - time.monotonic())
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            last_error = exc
            await asyncio.sleep(0.2)
    raise HostError(f"{host.name} ({host.address}) not ready after {timeout:.0f} s: {last_error}")


async def _system_state(host: LabHost, remaining: float) -> str:
    # A plain TCP banner first: cheap to retry while the container boots.
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host.address, host.ssh_port), timeout=1
    )
    try:
        banner = await asyncio.wait_for(reader.readline(), timeout=2)
    finally:
        writer.close()
    if not banner.startswith(b"SSH-"):
        raise OSError(f"no SSH banner from {host.address}: {banner!r}")
    async with asyncssh.connect(
        host.address,
        host.ssh_port,
        username="root",
        client_keys=[str(host.root_key_path)],
        known_hosts=asyncssh.import_known_hosts(host.known_hosts()),
        connect_timeout=5,
    ) as conn:
        result = await conn.run(
            "systemctl is-system-running --wait", check=False, timeout=max(remaining, 1)
        )
    state = str(result.stdout).strip()
    if state not in READY_STATES:
        raise HostError(f"{host.name}: systemd says {state!r}")
    return state


async def wait_all_ready(hosts: list[LabHost], timeout: float) -> None:
    await asyncio.gather(*(wait_ready(host, timeout) for host in hosts))


# --- teardown ---------------------------------------------------------------


def lab_nspawn_pids() -> list[int]:
    """Pids of systemd-nspawn processes that run a lab container (by exact argument)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_lab_nspawn(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _is_lab_nspawn(pid: int) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    marker = f"--network-namespace-path=/run/netns/{netlab.NETNS_PREFIX}".encode()
    return args[0].endswith(b"systemd-nspawn") and any(a.startswith(marker) for a in args)


def lab_namespace_pids() -> list[int]:
    return [pid for ns in netlab.lab_namespaces() for pid in netlab.namespace_pids(ns)]


def stop_all(grace: float = 5.0) -> None:
    """Halt every lab container and end every process in a lab namespace."""
    nspawn = lab_nspawn_pids()
    _signal(nspawn, signal.SIGTERM)  # nspawn halts its container on SIGTERM
    _signal(_service_pids(), signal.SIGTERM)
    _wait_gone(grace, nspawn)
    # Some containers do not halt in time: kill what is left in the lab's namespaces.
    for _ in range(3):
        left = lab_nspawn_pids() + lab_namespace_pids()
        if not left:
            return
        _signal(left, signal.SIGKILL)
        _wait_gone(5.0, nspawn)
    left = lab_nspawn_pids() + lab_namespace_pids()
    if left:
        raise HostError(f"lab processes survived SIGKILL: {left}")


def _service_pids() -> list[int]:
    """Processes in the service namespaces (DNS, SMTP): containers are halted through nspawn."""
    vps = netlab.netns_name("vps")
    services = [ns for ns in netlab.lab_namespaces() if not ns.startswith(vps)]
    return [pid for ns in services for pid in netlab.namespace_pids(ns)]


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(timeout: float, children: list[int]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(children)
        if not lab_nspawn_pids() and not lab_namespace_pids():
            return
        time.sleep(0.1)


def _reap(pids: list[int]) -> None:
    """Collect nspawn processes this process started, so none stays a zombie."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def lab_mounts(run_dir: Path) -> list[str]:
    """Mount points at or under ``run_dir`` (the hosts' overlays), deepest first."""
    root = str(run_dir.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point == root or point.startswith(root + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all(run_dir: Path) -> None:
    for point in lab_mounts(run_dir):
        netlab.run(["umount", point], check=False)
        if point in lab_mounts(run_dir):
            # Still busy: detach it now, the kernel frees it when the last user goes.
            netlab.run(["umount", "--lazy", point])
