"""Root filesystem images for the lab's VPS hosts, built once and cached.

Two flavours: ``bare`` (a minimal Debian 12 with sshd and systemd, like a fresh
VPS) and ``mail`` (bare plus postfix, opendkim and dovecot installed but
disabled, so provisioning tests do not depend on the package registry).

Each image lives in ``<cache>/images/<flavour>-<key>/rootfs`` where ``key`` is
a sha256 of its recipe (suite, mirror, package list, setup script and, for
``mail``, the bare key). A changed recipe gets a new directory; older images
of the same flavour are pruned after a successful build. Images are used
read-only as the lower layer of one overlayfs per host.

The lab SSH key pair (ed25519) also lives in the cache directory, generated
once; each host gets its public key at start (see ``lab.hosts``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

CACHE_DIR = Path(os.environ.get("MAILPANEL_LAB_CACHE", "/var/cache/mailpanel-lab"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
FLAVOURS = ("bare", "mail")
LAB_DNS = "10.200.0.2"

BARE_PACKAGES = (
    "openssh-server",
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "ca-certificates",
    "sudo",
)
MAIL_PACKAGES = (
    "postfix",
    "opendkim",
    "opendkim-tools",
    "dovecot-core",
    "dovecot-imapd",
    "ssl-cert",
    # The benchmarks run Ansible's modules on these hosts, and Ansible needs Python.
    "python3",
    # The ACME path runs certbot on the host (against the lab's pebble), and nginx serves
    # the domains' MTA-STS policies over the certificates it gets.
    "certbot",
    "nginx",
)

# Runs inside the fresh debootstrap tree. Host keys are removed so that every
# host gets its own (lab.hosts writes one per host); the machine id is emptied
# so systemd makes a fresh one per boot; timers that run apt are masked so a
# test never finds the dpkg lock taken.
BARE_SETUP = """set -eu
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
cat > /etc/ssh/sshd_config.d/mailpanel-lab.conf <<'EOF'
# Written by the MailPanel lab image recipe.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
# Only deploy has a password; root refuses passwords (line above).
PasswordAuthentication yes
KbdInteractiveAuthentication no
UseDNS no
EOF
useradd --create-home --shell /bin/bash --groups sudo deploy
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \\
    e2scrub_all.timer fstrim.timer; do
  systemctl mask "$unit"
done
apt-get clean
rm -rf /var/lib/apt/lists/*
printf 'nameserver %s\\noptions timeout:1 attempts:2\\n' "$1" > /etc/resolv.conf
"""

# Runs inside a copy of the bare image, with the host's network and resolver.
# policy-rc.d keeps the packages' maintainer scripts from starting services in
# the build container; the services stay disabled in the image, provisioning
# writes their configuration and enables them. "No configuration" leaves
# /etc/postfix/main.cf absent, so provisioning owns the whole file.
MAIL_SETUP = """set -eu
lab_dns="$1"; shift
export DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "$@"
for unit in postfix.service opendkim.service dovecot.service dovecot.socket nginx.service; do
  if [ -e "/lib/systemd/system/$unit" ]; then systemctl disable "$unit"; fi
done
rm -f /usr/sbin/policy-rc.d
apt-get clean
rm -rf /var/lib/apt/lists/*
printf 'nameserver %s\\noptions timeout:1 attempts:2\\n' "$lab_dns" > /etc/resolv.conf
"""


class ImageError(RuntimeError):
    """An image could not be built."""


@dataclass(frozen=True)
class Recipe:
    flavour: str
    packages: tuple[str, ...]
    script: str
    base_key: str = ""

    def key(self) -> str:
        text = json.dumps(
            {
                "flavour": self.flavour,
                "suite": SUITE,
                "mirror": MIRROR,
                "packages": list(self.packages),
                "script": self.script,
                "base": self.base_key,
                "lab_dns": LAB_DNS,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe(flavour: str) -> Recipe:
    bare = Recipe("bare", BARE_PACKAGES, BARE_SETUP)
    if flavour == "bare":
        return bare
    if flavour == "mail":
        return Recipe("mail", MAIL_PACKAGES, MAIL_SETUP, base_key=bare.key())
    raise ValueError(f"unknown flavour {flavour!r}, expected one of {FLAVOURS}")


def image_dir(flavour: str, cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / "images" / f"{flavour}-{recipe(flavour).key()}"


def is_cached(flavour: str, cache_dir: Path = CACHE_DIR) -> bool:
    return (image_dir(flavour, cache_dir) / "complete").is_file()


def ensure_image(flavour: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Return the rootfs of ``flavour``, building it (and its base) if needed."""
    target = image_dir(flavour, cache_dir)
    if (target / "complete").is_file():
        return target / "rootfs"
    base = ensure_image("bare", cache_dir) if flavour == "mail" else None
    with _build_lock(cache_dir):
        # Another process may have finished the same build while we waited.
        if not (target / "complete").is_file():
            _build(recipe(flavour), target, base)
            _prune(flavour, target)
    return target / "rootfs"


@contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(spec: Recipe, target: Path, base: Path | None) -> None:
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rootfs = tmp / "rootfs"
    try:
        if base is None:
            _debootstrap(spec.packages, rootfs)
            _in_container(rootfs, spec.script, [LAB_DNS], host_network=False)
        else:
            _run(["cp", "-a", "--reflink=auto", str(base), str(rootfs)])
            _in_container(rootfs, spec.script, [LAB_DNS, *spec.packages], host_network=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ImageError(f"building the {spec.flavour} image failed: {exc}") from exc
    (tmp / "recipe.json").write_text(json.dumps(spec.__dict__, indent=1))
    (tmp / "complete").write_text(spec.key() + "\n")
    tmp.rename(target)


def _debootstrap(packages: tuple[str, ...], rootfs: Path) -> None:
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(rootfs),
            MIRROR,
        ]
    )


def _in_container(rootfs: Path, script: str, args: list[str], *, host_network: bool) -> None:
    """Run ``script`` with ``args`` in a throwaway container on ``rootfs``.

    systemd-nspawn (not a bare chroot) gives the maintainer scripts a real
    /proc, /dev and /sys. With ``host_network`` the container shares the host's
    network and gets a copy of its resolv.conf (the script rewrites it at the end).
    """
    cmd = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--timezone=off",
        "--link-journal=no",
        f"--resolv-conf={'replace-host' if host_network else 'off'}",
        "--directory",
        str(rootfs),
    ]
    if not host_network:
        cmd.append("--private-network")
    _run([*cmd, "--pipe", "/bin/sh", "-c", script, "lab-setup", *args])


def _prune(flavour: str, keep: Path) -> None:
    for old in keep.parent.glob(f"{flavour}-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)


def ensure_lab_key(cache_dir: Path = CACHE_DIR) -> Path:
    """Return the path of the lab's private SSH key, generating it once."""
    path = cache_dir / "lab_ed25519"
    if path.is_file() and path.with_suffix(".pub").is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="mailpanel-lab")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key("openssh"))
    path.with_suffix(".pub").write_bytes(key.export_public_key("openssh"))
    tmp.rename(path)
    return path


def lab_public_key(cache_dir: Path = CACHE_DIR) -> str:
    return ensure_lab_key(cache_dir).with_suffix(".pub").read_text().strip()
