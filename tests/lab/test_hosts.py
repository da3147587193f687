"""The lab's VPS hosts, as the panel meets them: real containers reached over real SSH."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import dns.message
import dns.query
import pytest

from lab import images, labnames, netlab, peers
from lab.__main__ import print_lab
from lab.lab import PROJECT_ROOT, Lab, LabHost

SUDO = "sudo -S -k -p '' true"


async def _run(host: LabHost, command: str, user: str, password: str | None, timeout: float) -> (
    asyncssh.SSHCompletedProcess
):  # fmt: skip
    async with asyncssh.connect(
        host.address,
        host.ssh_port,
        username=user,
        password=password,
        client_keys=None if password else [str(host.root_key_path)],
        known_hosts=asyncssh.import_known_hosts(host.known_hosts()),
    ) as conn:
        stdin = password + "\n" if password and "sudo -S" in command else None
        return await conn.run(command, input=stdin, check=False, timeout=timeout)


def ssh(host: LabHost, command: str, *, user: str = "root", password: str | None = None,
        timeout: float = 60) -> asyncssh.SSHCompletedProcess:  # fmt: skip
    """Run ``command`` on ``host`` over SSH (root by key unless a password is given)."""
    return asyncio.run(_run(host, command, user, password, timeout))


def nothing_of_the_lab_is_left() -> list[str]:
    """Look for lab resources with the system's own tools, not with the lab's code."""
    found = []

    def lines(*cmd: str) -> list[str]:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()

    found += [ns for ns in lines("ip", "netns", "list") if ns.startswith("mplab")]
    found += [link for link in lines("ip", "-o", "link") if " mpv-" in link or " mplab0" in link]
    for table in ("filter", "nat"):
        found += [r for r in lines("iptables", "-t", table, "-S") if "mailpanel-lab" in r]
    found += [m for m in Path("/proc/mounts").read_text().splitlines() if "mailpanel-lab" in m]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes()
        except OSError:
            continue
        if b"systemd-nspawn" in args and b"mplab-" in args:
            found.append(f"process {cmdline.parent.name}")
    peer_ports = {f"127.0.0.1:{port}" for port in peers.PORTS.values()}
    found += [line for line in lines("ss", "-Hltn") if peer_ports & set(line.split())]
    return found


def lab_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lab", *args], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def listener_on_the_bridge(lab: Lab) -> Iterator[int]:
    """A TCP server of this test process on the bridge address; yields its port."""
    server = socket.create_server((lab.bridge_address, 0))
    server.settimeout(10)

    def greet() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"HELLO-FROM-THE-BRIDGE\n")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(timeout=5)


# --- pure checks (no lab needed) -------------------------------------------------


def test_an_image_is_rebuilt_only_when_its_recipe_changes() -> None:
    bare = images.recipe("bare")
    assert bare.key() == images.recipe("bare").key()
    assert dataclasses.replace(bare, script=bare.script + "# changed\n").key() != bare.key()
    assert dataclasses.replace(bare, packages=(*bare.packages, "vim")).key() != bare.key()
    assert images.recipe("mail").base_key == bare.key()


def test_lab_addresses_and_interface_names_are_fixed() -> None:
    assert netlab.vps_address(1) == "10.200.0.11"
    assert netlab.vps_address(200) == "10.200.0.210"
    with pytest.raises(ValueError):
        netlab.vps_address(201)
    assert netlab.veth_name("vps200") == "mpv-vps200"
    assert netlab.FIXED_ADDRESSES == {"dns": "10.200.0.2", "mx": "10.200.0.3", "acme": "10.200.0.4"}


# --- the session lab (mail flavour) ------------------------------------------------


@pytest.mark.lab
def test_root_logs_in_by_key_and_systemd_is_up(lab: Lab) -> None:
    for host in lab.hosts:
        result = ssh(host, "systemctl is-system-running; hostname")
        state, hostname = str(result.stdout).split()
        assert state in ("running", "degraded")
        assert hostname == host.name


@pytest.mark.lab
def test_each_host_shows_the_host_key_the_lab_recorded(lab: Lab) -> None:
    async def fingerprint(host: LabHost) -> str:
        async with asyncssh.connect(
            host.address, username="root", client_keys=[str(host.root_key_path)], known_hosts=None
        ) as conn:
            key = conn.get_server_host_key()
            assert key is not None
            return str(key.get_fingerprint("sha256"))

    seen = [asyncio.run(fingerprint(host)) for host in lab.hosts]
    assert seen == [host.host_key_fingerprint for host in lab.hosts]
    assert len(set(seen)) == len(seen), "every host has a host key of its own"
    assert all(fp.startswith("SHA256:") for fp in seen)


@pytest.mark.lab
def test_deploy_logs_in_by_password_and_sudo_wants_that_password(lab: Lab) -> None:
    host = lab.hosts[0]
    ok = ssh(host, SUDO, user=host.user, password=host.password)
    assert ok.exit_status == 0, ok.stderr
    refused = asyncio.run(_sudo_with_wrong_password(host))
    assert refused != 0


async def _sudo_with_wrong_password(host: LabHost) -> int | None:
    async with asyncssh.connect(
        host.address,
        username=host.user,
        password=host.password,
        client_keys=None,
        known_hosts=asyncssh.import_known_hosts(host.known_hosts()),
    ) as conn:
        result = await conn.run(SUDO, input="not-the-password\n", check=False, timeout=30)
        return result.exit_status


@pytest.mark.lab
def test_root_and_strangers_cannot_log_in_by_password(lab: Lab) -> None:
    host = lab.hosts[0]
    with pytest.raises(asyncssh.PermissionDenied):
        ssh(host, "true", user="root", password=host.password)
    with pytest.raises(asyncssh.PermissionDenied):
        ssh(host, "true", user=host.user, password="not-the-password")


@pytest.mark.lab
def test_hosts_reach_each_other_and_the_bridge(lab: Lab, listener_on_the_bridge: int) -> None:
    if len(lab.hosts) < 2:
        pytest.skip("needs two lab hosts")
    first, second = lab.hosts[:2]

    def read_tcp(address: str, port: int) -> str:
        script = f"exec 3<>/dev/tcp/{address}/{port} && head -c 21 <&3"
        return str(ssh(first, "timeout 5 bash -c " + shlex.quote(script)).stdout)

    assert read_tcp(second.address, 22).startswith("SSH-2.0-")
    assert read_tcp(lab.bridge_address, listener_on_the_bridge) == "HELLO-FROM-THE-BRIDGE"
    # A closed port on the bridge answers at once: refused, not silently dropped.
    closed = ssh(first, "timeout 5 bash -c 'echo > /dev/tcp/10.200.0.1/9'")
    assert closed.exit_status == 1
    assert "refused" in str(closed.stderr)


@pytest.mark.lab
def test_the_mail_lab_has_no_way_out(lab: Lab) -> None:
    forward = netlab.tagged_rules("filter")
    assert any("-i mplab0 ! -o mplab0" in r and r.endswith("-j DROP") for r in forward)
    assert any("! -i mplab0 -o mplab0" in r and r.endswith("-j DROP") for r in forward)
    assert not any("ACCEPT" in r for r in forward)
    assert netlab.tagged_rules("nat") == []
    resolv_conf = str(ssh(lab.hosts[0], "cat /etc/resolv.conf").stdout)
    assert resolv_conf.split()[:2] == ["nameserver", lab.dns_address]


@pytest.mark.lab
def test_mail_packages_are_installed_and_left_for_provisioning(lab: Lab) -> None:
    host = lab.hosts[0]
    packages = "postfix opendkim opendkim-tools dovecot-core dovecot-imapd ssl-cert"
    status = ssh(host, f"dpkg-query -W -f '${{Status}}\\n' {packages}")
    assert str(status.stdout).splitlines() == ["install ok installed"] * 6
    enabled = ssh(host, "systemctl is-enabled postfix opendkim dovecot")
    assert str(enabled.stdout).split() == ["disabled"] * 3
    assert ssh(host, "test -e /etc/postfix/main.cf").exit_status == 1


# --- labs of their own (run last, each with the machine's lab to itself) -----------


@pytest.mark.lab
def test_a_bare_host_installs_a_package_through_nat(lab_factory: Callable[[], Lab]) -> None:
    lab = lab_factory()
    (host,) = lab.up(1, flavour="bare", services=False)
    forward = netlab.tagged_rules("filter")
    accepts = [r for r in forward if "-j ACCEPT" in r and "-i mplab0 ! -o mplab0" in r]
    assert accepts and all("--dports 80,443" in r for r in accepts)
    assert {r.split("-d ")[1].split("/")[0] for r in accepts} == set(lab.registry_pins)
    assert any(r.endswith("-j DROP") and "-i mplab0 ! -o mplab0" in r for r in forward)
    assert any("MASQUERADE" in r for r in netlab.tagged_rules("nat"))
    install = "apt-get update -q && apt-get install -y -q hello && hello"
    result = ssh(host, "DEBIAN_FRONTEND=noninteractive sh -c " + shlex.quote(install), timeout=300)
    assert result.exit_status == 0, result.stderr
    assert "Hello, world!" in str(result.stdout)
    lab.down()
    assert nothing_of_the_lab_is_left() == []


@pytest.mark.lab
def test_the_command_line_leaves_the_lab_running_until_down(
    lab_factory: Callable[[], Lab],
) -> None:
    table = lab_cli("up", "--hosts", "1", "--services", "off")
    assert "vps1" in table and "10.200.0.11" in table
    # The process that started the lab has exited; the host and the peers still answer.
    attached = Lab.attach()
    (host,) = attached.hosts
    assert host.host_key_fingerprint in table and host.password in table
    assert attached.peers is not None
    assert attached.peers.cloudflare_token in table and attached.peers.llm_key in table
    for name, value in attached.peers.env(attached.dns_address).items():
        assert f"{name}={value} \\\n" in table
    assert table.rstrip().endswith("make run")  # the README's own command
    assert len(peers.running()) == len(peers.MODULES)
    assert str(ssh(host, "systemctl is-system-running").stdout).strip() in ("running", "degraded")
    assert "vps1" in lab_cli("status")
    lab_cli("down")
    assert nothing_of_the_lab_is_left() == []


@pytest.mark.lab
def test_a_crashed_lab_is_cleaned_up_by_the_next_up(lab_factory: Callable[[], Lab]) -> None:
    crashed = lab_factory()
    crashed.up(2, services=False)
    crashed_hosts = crashed.hosts
    crashed_peers = peers.running()
    assert len(crashed_peers) == len(peers.MODULES)
    del crashed  # no down(): its containers, mounts, namespaces and rules stay behind
    gc.collect()
    assert nothing_of_the_lab_is_left() != []

    fresh = lab_factory()
    (first,) = fresh.up(1, services=False)
    assert first.host_key_fingerprint != crashed_hosts[0].host_key_fingerprint
    # The crashed lab's peers were stopped (their ports are the fresh lab's now).
    assert not any(peers.is_peer(pid) for pid in crashed_peers)
    assert len(peers.running()) == len(peers.MODULES)
    (second,) = fresh.add_hosts(1)
    assert second.address == crashed_hosts[1].address
    script = f"exec 3<>/dev/tcp/{second.address}/22 && head -c 4 <&3"
    assert ssh(first, "timeout 5 bash -c " + shlex.quote(script)).stdout == "SSH-"
    fresh.down()
    assert nothing_of_the_lab_is_left() == []


@pytest.mark.lab
def test_hosts_reach_the_lab_dns_and_smtp_services(lab: Lab) -> None:
    if not lab.services:
        pytest.skip("the lab's DNS and SMTP service modules are not in this checkout")
    host = lab.hosts[0]
    script = f"exec 3<>/dev/tcp/{lab.mx_address}/25 && head -c 4 <&3"
    assert ssh(host, "timeout 5 bash -c " + shlex.quote(script)).stdout == "220 "
    query = dns.message.make_query("lab.", "SOA")
    assert query.is_response(dns.query.tcp(query, lab.dns_address, timeout=5))
    assert lab.zone_db.parent == lab.mail_db.parent == lab.run_dir


@pytest.mark.lab
def test_the_printed_lab_names_a_test_recipient_and_the_acme_settings(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    print_lab(lab)
    printed = capsys.readouterr().out

    assert f"send it to {labnames.TEST_RECIPIENT}" in printed
    query = dns.message.make_query(labnames.RECEIVER_DOMAIN, "MX")
    answer = dns.query.udp(query, lab.dns_address, timeout=5)
    assert [r.to_text() for rrset in answer.answer for r in rrset] == ["10 mx.lab."]
    assert f"MAILPANEL_ACME_DIRECTORY={lab.acme_directory} \\\n" in printed
    assert f"MAILPANEL_ACME_CA_BUNDLE={lab.acme_ca_path} \\\n" in printed
    root = lab.run_dir / "acme" / "issuing-root.pem"
    assert f"MAILPANEL_MTA_STS_CA_BUNDLE={root} \\\n" in printed
    assert root.read_text().startswith("-----BEGIN CERTIFICATE-----")
