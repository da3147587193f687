"""The panel as its user meets it: a database, a running worker, and fleet runs requested."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.005


class PanelUnderTest:
    def __init__(self, data_dir: Path, hosts: list[Any]) -> None:
        self.data_dir = data_dir
        self.hosts = hosts
        self.worker: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(
            MAILPANEL_DATA_DIR=str(data_dir),
            DJANGO_SETTINGS_MODULE="mailpanel.settings",
            MAILPANEL_LOG_LEVEL="WARNING",
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
        self.user, self.servers = self._servers()

    def _servers(self) -> tuple[Any, list[Any]]:
        from django.utils import timezone

        from mailpanel.accounts.models import User
        from mailpanel.servers.models import HostKeyState, Server
        from mailpanel.vault.actions import create_credential

        user = User.objects.create_user("bench@example.test", "bench password 123", full_name="B")
        key = create_credential(
            user,
            "ssh_key",
            "lab",
            {"private_key": self.hosts[0].root_key_path.read_text(), "passphrase": ""},
        )
        servers = [
            Server.objects.create(
                owner=user,
                name=host.name,
                host=host.address,
                username="root",
                credential=key,
                mail_hostname=f"{host.name}.lab",
                host_key=host.host_public_key,
                host_key_fingerprint=host.host_key_fingerprint,
                host_key_state=HostKeyState.CONFIRMED,
                host_key_confirmed_at=timezone.now(),
            )
            for host in self.hosts
        ]
        return user, servers

    def start(self) -> None:
        log = (self.data_dir / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "mailpanel.cli", "worker"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            start_new_session=True,
        )
        self._wait_ready()

    def stop(self) -> None:
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker = None

    def restart_worker(self) -> None:
        """A fresh worker process: an empty SSH connection pool, so the next run is cold."""
        self.stop()
        self.start()

    def _wait_ready(self) -> None:
        from mailpanel.jobs.actions import start_job

        job = start_job(self.user, "selftest", "bench", {"pause": 0})
        self._wait_job(job.pk, timeout=60)

    def _wait_job(self, job_id: Any, timeout: float) -> None:
        from mailpanel.jobs.models import Job

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = Job.objects.get(pk=job_id)
            if job.is_finished:
                if job.state != "succeeded":
                    raise RuntimeError(f"job {job.kind} {job.state}: {job.error}")
                return
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"job {job_id} did not finish in {timeout} s")

    def fleet_health(self, count: int) -> float:
        from mailpanel.servers.fleet import start_fleet_run
        from mailpanel.servers.models import FleetRun, ItemState

        started = time.perf_counter()
        run = start_fleet_run(self.user, "health", self.servers[:count])
        while not FleetRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists():
            time.sleep(POLL_SECONDS)
            if time.perf_counter() - started > 300:
                raise RuntimeError("fleet run did not finish in 300 s")
        elapsed = time.perf_counter() - started
        failed = run.items.exclude(state=ItemState.OK)
        if failed.exists():
            raise RuntimeError(f"fleet run failed on: {[i.summary for i in failed]}")
        return elapsed

    def converge_noop(self) -> float:
        """Converge one host, then time a second converge that must change nothing."""
        from mailpanel.servers.actions import start_server_job

        server = self.servers[0]
        self._wait_job(start_server_job(server, "server.converge").pk, timeout=300)
        started = time.perf_counter()
        self._wait_job(start_server_job(server, "server.converge").pk, timeout=60)
        return time.perf_counter() - started
