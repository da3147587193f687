"""The guided setup's steps, posted to its pages as a person would, each one timed."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from lab.lab import Lab, LabHost
from lab.smtp_store import wait_for_message
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.dns.setup import state_of
from mailpanel.servers.models import Server
from mailpanel.vault.actions import create_credential

RECEIVER = "receiver.test"
ZONE = "example.test"


def drain() -> None:
    """What a worker does: run each queued task (the jobs) until the queue is empty."""
    while (task := HUEY.dequeue()) is not None:
        HUEY.execute(task)


class Onboarding:
    def __init__(self, lab: Lab, host: LabHost) -> None:
        self.lab, self.host = lab, host
        self.steps: list[dict[str, Any]] = []
        self.domain = f"onboard-{uuid.uuid4().hex[:6]}.{ZONE}"
        self.user = User.objects.create(
            email=f"bench-{uuid.uuid4().hex[:6]}@example.test", full_name="Bench Person"
        )
        self.client = Client()
        self.client.force_login(self.user)
        self.server: Server | None = None
        self._point_panel_at_lab()

    def _point_panel_at_lab(self) -> None:
        peers = self.lab.peers
        assert peers is not None
        settings.DNS_API_URLS = {
            k: getattr(peers, f"{k}_url") for k in ("cloudflare", "namecom", "openprovider")
        }
        settings.DNS_RESOLVERS, settings.DNS_RESOLVER_PORT = [self.lab.dns_address], 53
        settings.DNS_VERIFY_TIMEOUT_SECONDS = 30
        settings.DNS_VERIFY_MAX_INTERVAL_SECONDS = 1
        store = ZoneStore(self.lab.zone_db)  # where the test message goes: the lab receiver
        zone = store.create_zone("lab", "bench", RECEIVER)
        store.add_record(zone["id"], RECEIVER, "MX", "mx.lab", 300, priority=10)
        store.close()

    def timed(self, name: str, work: Callable[[], object]) -> None:
        started = time.perf_counter()
        detail = work()
        seconds = time.perf_counter() - started
        self.steps.append({"step": name, "seconds": round(seconds, 2), "detail": detail or ""})
        print(f"{name:28} {seconds:6.1f} s  {detail or ''}", flush=True)

    def setup_page(self) -> str:
        assert self.server is not None
        return self.client.get(reverse("dns_setup_server", args=[self.server.pk])).content.decode()

    def post_step(self, step: str, **data: str) -> None:
        assert self.server is not None
        url = reverse("dns_setup_server", args=[self.server.pk])
        response = self.client.post(url, {"step": step, **data})
        assert response.status_code == 302, response.content.decode()[-600:]
        drain()

    def current(self) -> str:
        assert self.server is not None
        self.server.refresh_from_db()
        now = state_of(self.server).current
        return now.key if now else "done"

    # -- the steps ---------------------------------------------------------------------------

    def add_server(self) -> str:
        key = create_credential(
            self.user,
            "ssh_key",
            "root key",
            {"private_key": self.host.root_key_path.read_text(), "passphrase": ""},
        )
        response = self.client.post(
            reverse("dns_setup"),
            {
                "name": "vps",
                "host": self.host.address,
                "port": 22,
                "username": "root",
                "credential": key.pk,
                "mail_hostname": f"{self.host.name}.lab",
                "tls_mode": "self_signed",
            },
        )
        assert response.status_code == 302, response.content.decode()[-600:]
        self.server = Server.objects.get(owner=self.user)
        return self.server.address

    def confirm_host_key(self) -> str:
        shown = re.search(r"data-fingerprint>([^<]+)<", self.setup_page())
        assert shown, "the setup page shows the offered key"
        self.post_step("host_key", fingerprint=shown.group(1))
        return shown.group(1)

    def provision(self) -> str:
        self.post_step("provision")
        assert self.current() == "domain", self.current()
        return "postfix, opendkim, dovecot installed and configured"

    def add_domain(self) -> str:
        self.post_step(
            "domain", name=self.domain, dmarc_policy="none", report_address=f"dmarc@{ZONE}"
        )
        return self.domain

    def connect_account(self) -> str:
        """Before the domain: its zone in the account proves control, so adding it signs."""
        peers = self.lab.peers
        assert peers is not None
        credential = create_credential(
            self.user, "cloudflare", "lab cloudflare", {"token": peers.cloudflare_token}
        )
        self.client.post(
            reverse("dns_account_add"), {"credential": credential.pk, "label": "Cloudflare"}
        )
        drain()
        return "Cloudflare"

    def pick_zone(self) -> str:
        assert self.server is not None
        domain = self.server.domains.get()
        self.client.post(reverse("dns_domain_link", args=[domain.pk]), {"automatic": "1"})
        assert self.current() == "plan", self.current()
        return ZONE

    def review_plan(self) -> str:
        self.post_step("plan", ttl="300")
        page = self.setup_page()
        creates = page.count('data-action="create"')
        # MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT (the mail host lives in the lab's own zone).
        assert creates == 6, page[-1500:]
        return f"{creates} records to create"

    def apply_and_verify(self) -> str:
        self.post_step("apply")
        assert self.current() == "test", self.current()
        state = state_of(self.server)  # type: ignore[arg-type]
        return next(s.detail for s in state.steps if s.key == "verify")

    def send_test(self) -> dict[str, str]:
        recipient = f"reader-{time.monotonic_ns()}@{RECEIVER}"
        self.post_step("test", recipient=recipient)
        message = wait_for_message(self.lab.mail_db, lambda m: recipient in m["rcpt_to"], 60)
        return {"spf": message["spf"], "dkim": message["dkim"], "dmarc": message["dmarc"]}

    def all(self) -> dict[str, Any]:
        verdicts: dict[str, str] = {}
        self.timed("add server", self.add_server)
        self.timed("confirm host key (+ facts)", self.confirm_host_key)
        self.timed("provision (apt included)", self.provision)
        self.timed("connect DNS account", self.connect_account)
        self.timed("add domain (+ converge)", self.add_domain)
        self.timed("pick zone", self.pick_zone)
        self.timed("review plan", self.review_plan)
        self.timed("apply and verify in DNS", self.apply_and_verify)
        self.timed(
            "send, received with verdicts",
            lambda: (
                verdicts.update(self.send_test())
                or " ".join(f"{k}={v}" for k, v in verdicts.items())
            ),
        )
        return {
            "steps": self.steps,
            "verdicts": verdicts,
            "domain": self.domain,
            "setup_done": self.current() == "done",
        }
