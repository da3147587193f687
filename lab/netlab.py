"""The lab network: one bridge, one network namespace per lab node, firewall rules.

Only resources with the lab's names are ever created, changed or deleted:
the bridge ``mplab0``, namespaces ``mplab-*``, host-side veths ``mpv-*`` and
iptables rules carrying the comment ``mailpanel-lab``.

Addresses (10.200.0.0/24): the host's side of the bridge is .1, the lab DNS
server .2, the SMTP receiver .3, a future ACME server .4, and VPS host N is
.(10+N).

Forwarding out of the lab subnet is always dropped (the lab hosts must not
reach anything but each other and this machine). ``enable_nat`` opens one way
out, for apt on bare hosts: TCP 80/443 to the addresses the Debian package
registry had when the lab started, masqueraded. The hosts get those addresses
pinned in /etc/hosts (see ``lab.hosts``), so they need no outside DNS.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
from pathlib import Path

BRIDGE = "mplab0"
SUBNET = "10.200.0.0/24"
BRIDGE_ADDRESS = "10.200.0.1"
NETNS_PREFIX = "mplab-"
VETH_PREFIX = "mpv-"
RULE_TAG = "mailpanel-lab"
REGISTRY_HOST = "deb.debian.org"
FIXED_ADDRESSES = {"dns": "10.200.0.2", "mx": "10.200.0.3", "acme": "10.200.0.4"}
MAX_VPS = 200
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class NetLabError(RuntimeError):
    """A lab network operation failed."""


def run(cmd: list[str], *, check: bool = True, input_text: str | None = None) -> str:
    """Run a command (argument list, never a shell string) and return its stdout."""
    done = subprocess.run(cmd, capture_output=True, text=True, input=input_text, check=False)
    if check and done.returncode != 0:
        raise NetLabError(f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def vps_address(number: int) -> str:
    if not 1 <= number <= MAX_VPS:
        raise ValueError(f"VPS number {number} outside 1..{MAX_VPS}")
    return f"10.200.0.{10 + number}"


def netns_name(node: str) -> str:
    return NETNS_PREFIX + node


def veth_name(node: str) -> str:
    name = VETH_PREFIX + node
    if len(name) > 15:
        raise ValueError(f"interface name {name!r} is longer than 15 characters")
    return name


def add_bridge() -> None:
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    block_forwarding()


def add_node(node: str, address: str) -> str:
    """Create namespace ``mplab-<node>`` with ``address`` on the bridge; return its name."""
    ns, veth = netns_name(node), veth_name(node)
    run(["ip", "netns", "add", ns])
    # The peer is created directly inside the namespace, so its name (eth0)
    # never clashes with the host's own interfaces.
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", BRIDGE_ADDRESS])
    return ns


def lab_namespaces() -> list[str]:
    names = (line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line)
    return [name for name in names if name.startswith(NETNS_PREFIX)]


def lab_links() -> list[str]:
    links = []
    for line in run(["ip", "-o", "link", "show"]).splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == BRIDGE or name.startswith(VETH_PREFIX):
            links.append(name)
    return links


def namespace_pids(ns: str) -> list[int]:
    return [int(pid) for pid in run(["ip", "netns", "pids", ns], check=False).split()]


def remove_network() -> None:
    """Delete every lab namespace, link and tagged firewall rule (processes must be gone)."""
    for ns in lab_namespaces():
        run(["ip", "netns", "delete", ns])
    # Deleting a namespace deletes the veth peer in it and so the host side;
    # whatever is left is removed by name.
    for link in lab_links():
        run(["ip", "link", "delete", link], check=False)
    remove_rules()


# --- firewall -------------------------------------------------------------


def _iptables(table: str, *args: str) -> list[str]:
    return ["iptables", "-w", "-t", table, *args]


def _tagged(*rule: str) -> list[str]:
    return [*rule, "-m", "comment", "--comment", RULE_TAG]


def block_forwarding() -> None:
    """Drop anything routed between the lab and the rest of the world.

    Inserted at the top of FORWARD so that no ACCEPT rule of the machine's own
    firewall can let lab traffic out. Traffic between lab nodes is bridged
    (in and out on mplab0) and so never matches.
    """
    rules = [
        _tagged("-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"),
        _tagged("-o", BRIDGE, "!", "-i", BRIDGE, "-j", "DROP"),
    ]
    for rule in rules:
        run(_iptables("filter", "-I", "FORWARD", "1", *rule))


def registry_addresses() -> list[str]:
    """IPv4 addresses of the Debian package registry, resolved by this machine."""
    infos = socket.getaddrinfo(REGISTRY_HOST, 443, socket.AF_INET, socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def enable_nat(addresses: list[str]) -> str:
    """Let the lab reach ``addresses`` on TCP 80/443 (masqueraded); return old ip_forward."""
    before = IP_FORWARD.read_text().strip()
    accepts = [
        _tagged("-o", BRIDGE, "!", "-i", BRIDGE, "-m", "conntrack", "--ctstate",
                "ESTABLISHED,RELATED", "-j", "ACCEPT"),
    ]  # fmt: skip
    for addr in addresses:
        accepts.append(
            _tagged("-i", BRIDGE, "!", "-o", BRIDGE, "-d", addr, "-p", "tcp",
                    "-m", "multiport", "--dports", "80,443", "-j", "ACCEPT")
        )  # fmt: skip
    # Inserted above the DROP rules from block_forwarding.
    for rule in accepts:
        run(_iptables("filter", "-I", "FORWARD", "1", *rule))
    masquerade = _tagged("-s", SUBNET, "!", "-o", BRIDGE, "-j", "MASQUERADE")
    run(_iptables("nat", "-A", "POSTROUTING", *masquerade))
    IP_FORWARD.write_text("1\n")
    return before


def nat_enabled() -> bool:
    return any("MASQUERADE" in rule for rule in tagged_rules("nat"))


def restore_ip_forward(value: str | None) -> None:
    if value is not None and value != IP_FORWARD.read_text().strip():
        IP_FORWARD.write_text(value + "\n")


def tagged_rules(table: str) -> list[str]:
    """The lab's rules in ``table``, in ``iptables -S`` form."""
    listing = run(_iptables(table, "-S"))
    return [line for line in listing.splitlines() if RULE_TAG in line and line.startswith("-A ")]


def remove_rules() -> None:
    for table in ("filter", "nat"):
        for rule in tagged_rules(table):
            args = shlex.split(rule)
            run(_iptables(table, "-D", *args[1:]))


def leftovers() -> list[str]:
    """Describe every lab network resource that still exists."""
    found = [f"namespace {ns}" for ns in lab_namespaces()]
    found += [f"link {link}" for link in lab_links()]
    for table in ("filter", "nat"):
        found += [f"iptables -t {table} {rule}" for rule in tagged_rules(table)]
    return found


def tcp_banner(address: str, port: int, timeout: float = 1.0) -> bytes:
    """Connect and read the first bytes a server sends (b'' when it sends none)."""
    with socket.create_connection((address, port), timeout=timeout) as sock:
        try:
            return sock.recv(64)
        except TimeoutError:
            return b""
