"""Each fault is a clear job error, and nothing half-done goes unreported."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.context import JobContext
from mailpanel.jobs.models import JobState
from mailpanel.servers.jobs import on_server
from mailpanel.servers.models import HostKeyState, Server
from mailpanel.servers.ssh import Remote
from mailpanel.servers.sshloop import EventSink
from mailpanel.vault.actions import create_credential
from tests.servers.conftest import log_text, pinned_server, root_key, run, ssh_root
from tests.vault.conftest import private_key

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]


def test_a_wrong_key_is_refused_with_a_clear_error(user: User, lab: Any, queue: Huey) -> None:
    server = pinned_server(user, lab.hosts[0])
    stranger = create_credential(user, "ssh_key", "stranger", {
        "private_key": private_key("ssh-ed25519"), "passphrase": ""})  # fmt: skip
    Server.objects.filter(pk=server.pk).update(credential=stranger)

    job = run(server, "server.facts", queue)
    assert job.state == JobState.FAILED
    assert "refused the credential" in job.error


def test_an_unreachable_host_is_a_clear_error(user: User, lab: Any, queue: Huey) -> None:
    server = pinned_server(user, lab.hosts[0])
    Server.objects.filter(pk=server.pk).update(host="10.200.0.254")  # nothing lives there

    job = run(server, "server.facts", queue)
    assert job.state == JobState.FAILED
    assert "10.200.0.254" in job.error and ("reach" in job.error or "answer" in job.error)


def test_a_changed_host_key_stops_every_action(user: User, lab: Any, queue: Huey) -> None:
    first, second = lab.hosts[0], lab.hosts[1]
    server = pinned_server(user, first)
    # The name now leads to another machine: exactly what an interception looks like.
    Server.objects.filter(pk=server.pk).update(host=second.address)

    job = run(server, "server.facts", queue)
    assert job.state == JobState.FAILED
    assert "host key changed: possible interception" in job.error
    server.refresh_from_db()
    assert server.host_key_state == HostKeyState.CHANGED
    assert server.offered_fingerprint == second.host_key_fingerprint
    blocked = run(server, "server.converge", queue)
    assert blocked.state == JobState.FAILED and "possible interception" in blocked.error
    assert not blocked.log_lines.filter(text__startswith="$").exists()


def test_a_wrong_sudo_password_is_a_clear_error(user: User, lab: Any, queue: Huey) -> None:
    host = lab.hosts[1]
    login = create_credential(user, "ssh_password", "deploy", {"password": host.password})
    wrong = create_credential(user, "ssh_password", "sudo", {"password": "not-the-password"})
    server = pinned_server(user, host, name="deploy", username="deploy", credential=login,
                           sudo_credential=wrong)  # fmt: skip

    job = run(server, "server.health", queue)
    assert job.state == JobState.FAILED
    assert "refused the sudo password" in job.error
    assert "not-the-password" not in log_text(job) + job.error


def test_a_sudo_user_with_the_right_password_can_converge(
    user: User, lab: Any, queue: Huey
) -> None:
    host = lab.hosts[1]
    login = create_credential(user, "ssh_password", "deploy", {"password": host.password})
    sudo = create_credential(user, "ssh_password", "sudo", {"password": host.password})
    server = pinned_server(user, host, name="deploy", username="deploy", credential=login,
                           sudo_credential=sudo)  # fmt: skip

    job = run(server, "server.converge", queue)
    assert job.state == JobState.SUCCEEDED, log_text(job) + job.error
    assert host.password not in log_text(job)


def test_an_unsupported_os_is_refused(user: User, lab: Any, queue: Huey) -> None:
    host = lab.hosts[1]
    server = pinned_server(user, host)
    ssh_root(host, "cp", "/etc/os-release", "/root/os-release.saved")
    ssh_root(host, "sed", "-i", "s/^ID=.*/ID=centos/; s/^VERSION_ID=.*/VERSION_ID=\"7\"/",
             "/etc/os-release")  # fmt: skip
    try:
        job = run(server, "server.converge", queue)
    finally:
        ssh_root(host, "cp", "/root/os-release.saved", "/etc/os-release")
    assert job.state == JobState.FAILED
    assert "runs centos 7" in job.error and "supports Debian 12" in job.error


def test_a_connection_cut_mid_converge_is_finished_by_a_rerun(
    user: User, lab: Any, queue: Huey
) -> None:
    host = lab.hosts[1]
    server = pinned_server(user, host, credential=root_key(user, host))
    ssh_root(host, "rm", "-f", "/etc/postfix/main.cf", "/etc/opendkim.conf")
    netns = f"mplab-{host.name}"
    # Cut the connection as soon as the first file is being written.
    reject = ["iptables", "-I", "INPUT", "-p", "tcp", "--dport", "22", "-j", "REJECT",
              "--reject-with", "tcp-reset"]  # fmt: skip
    watch = (
        "for i in $(seq 1 200); do ls /etc/postfix/ | grep -q mailpanel && break; "
        'sleep 0.02; done; exec "$@"'
    )
    cutter = subprocess.Popen(["ip", "netns", "exec", netns, "sh", "-c", watch, "cut", *reject])
    try:
        cut = run(server, "server.converge", queue)
    finally:
        cutter.wait(timeout=30)
        delete = ["-D" if word == "-I" else word for word in reject]
        subprocess.run(["ip", "netns", "exec", netns, *delete], check=False)  # fmt: skip
    assert cut.state == JobState.FAILED
    assert "lost" in cut.error or "reach" in cut.error, cut.error

    rerun = run(server, "server.converge", queue)
    assert rerun.state == JobState.SUCCEEDED, log_text(rerun) + rerun.error
    assert "/etc/opendkim.conf" in log_text(rerun)
    assert (
        run(server, "server.converge", queue)
        .log_lines.filter(text="Already converged: no change.")
        .exists()
    )


def test_a_full_disk_is_reported(user: User, lab: Any, queue: Huey) -> None:
    host = lab.hosts[1]
    server = pinned_server(user, host)
    # A tiny, full file system over /etc/opendkim: the next write there fails.
    ssh_root(host, "mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", "/etc/opendkim")
    try:
        ssh_root(host, "sh", "-c", "dd if=/dev/zero of=/etc/opendkim/fill bs=1k count=64; true")
        job = run(server, "server.converge", queue)
    finally:
        ssh_root(host, "umount", "/etc/opendkim")
    assert job.state == JobState.FAILED
    assert "No space left on device" in job.error, job.error
    assert run(server, "server.converge", queue).state == JobState.SUCCEEDED


def test_output_that_is_not_utf8_is_read_and_the_session_goes_on(user: User, lab: Any) -> None:
    server = pinned_server(user, lab.hosts[0])
    ctx = JobContext(start_job(user, "selftest", target=server.name))

    async def work(remote: Remote, sink: EventSink) -> tuple[str, str]:
        odd = await remote.run(["printf", "caf\\351 ok"])  # latin-1, as old mail and logs have
        after = await remote.run(["echo", "still here"])
        return odd.stdout, after.stdout

    assert on_server(ctx, server, work) == ("caf\ufffd ok", "still here\n")
