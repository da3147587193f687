"""The peer tools on the same hosts: Ansible (5 tasks) and pyinfra (one operation)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
COMMANDS = [
    "uptime",
    "df -P /",
    "systemctl is-active postfix opendkim dovecot || true",
    "postqueue -j | wc -l",
    "openssl x509 -in /etc/mailpanel/tls/fullchain.pem -noout -enddate 2>/dev/null || true",
]

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
""" + "".join(
    f"    - name: check {i}\n      ansible.builtin.shell: {command!r}\n      changed_when: false\n"
    for i, command in enumerate(COMMANDS, start=1)
)


def _fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def _wall(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
    return elapsed


def run_ansible(hosts: list[Any], directory: Path) -> float:
    work = _fresh(directory)
    inventory = "".join(
        f"{h.name} ansible_host={h.address} ansible_user=root "
        f"ansible_ssh_private_key_file={h.root_key_path} "
        "ansible_python_interpreter=/usr/bin/python3\n"
        for h in hosts
    )
    (work / "hosts.ini").write_text("[all]\n" + inventory)
    (work / "play.yml").write_text(PLAYBOOK)
    # A fresh control-socket folder per run: each run starts without open connections.
    (work / "ansible.cfg").write_text(
        f"[defaults]\nforks = {len(hosts)}\nhost_key_checking = False\n"
        f"inventory = {work / 'hosts.ini'}\nlocal_tmp = {work / 'tmp'}\n"
        f"[ssh_connection]\npipelining = True\ncontrol_path_dir = {work / 'cp'}\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(work / "ansible.cfg"), "HOME": str(work)}
    return _wall([str(BIN / "ansible-playbook"), "play.yml"], work, env)


def run_pyinfra(hosts: list[Any], directory: Path) -> float:
    work = _fresh(directory)
    entries = ",\n".join(
        f'    ("{h.address}", {{"ssh_user": "root", "ssh_key": "{h.root_key_path}", '
        '"ssh_strict_host_key_checking": "off", "ssh_known_hosts_file": "/dev/null"})'
        for h in hosts
    )
    (work / "inventory.py").write_text(f"hosts = [\n{entries},\n]\n")
    (work / "deploy.py").write_text(
        "from pyinfra.operations import server\n\n"
        f"server.shell(name='health check', commands={COMMANDS!r})\n"
    )
    env = {**os.environ, "HOME": str(work)}
    argv = [str(BIN / "pyinfra"), "-y", "--parallel", str(len(hosts)), "inventory.py", "deploy.py"]
    return _wall(argv, work, env)
