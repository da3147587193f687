"""What providers see: record data and their own credential, nothing about the user."""

from __future__ import annotations

import getpass
import json
import re
import socket

import pytest
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.dns.models import PlanState
from mailpanel.dns.providers.http import user_agent
from mailpanel.vault.actions import create_credential
from tests.dns.conftest import CREDENTIALS, OTHER_SECRET, PROVIDERS, ZONE_OF, Fakes
from tests.dns.support import job_text, linked, make_domain, make_server, plan_and_apply, settled

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
ALLOWED_HEADERS = {
    "authorization",
    "user-agent",
    "accept",
    "content-type",
    "content-length",
    "host",
    "accept-encoding",
    "connection",
}
NVIDIA_KEY = "nvapi-" + "k" * 40


def test_a_full_apply_sends_each_provider_only_its_own_credential_and_record_data(
    user: User, lab_like: Fakes, queue: Huey
) -> None:
    user.full_name = "Zebulon Privacyname"
    user.save()
    create_credential(user, "nvidia", "assistant key", {"api_key": NVIDIA_KEY})
    for kind in PROVIDERS:
        zone = ZONE_OF[kind]
        server = make_server(user, mail_hostname=f"mail.{zone}")
        # A report address is record data the user chose to publish: the one address allowed.
        domain = make_domain(user, server, f"news.{zone}")
        linked(user, kind, domain, queue, zone)
        plan = plan_and_apply(domain, queue)
        assert plan.state == PlanState.APPLIED, job_text(plan.apply_job)

    secrets = {kind: set(CREDENTIALS[kind].values()) for kind in PROVIDERS}
    identity = {user.email, "Zebulon", "Privacyname", OTHER_SECRET, NVIDIA_KEY}
    identity |= {v for v in (getpass.getuser(), socket.gethostname()) if len(v) >= 5}
    for kind in PROVIDERS:
        requests = settled(lab_like[kind])
        assert len(requests) >= 4, kind  # test, plan, apply: reads and writes
        foreign = set().union(*(secrets[k] for k in PROVIDERS if k != kind)) | identity
        for request in requests:
            assert set(request.headers) <= ALLOWED_HEADERS, request.headers
            assert request.headers["user-agent"] == user_agent()
            sent = json.dumps([request.path, request.query, request.headers, request.body])
            assert not [s for s in foreign if s in sent], (kind, request.path)
            # The only address a request may carry is the TLS-RPT postmaster of the domain.
            addresses = set(EMAIL.findall(sent)) - {f"postmaster@news.{ZONE_OF[kind]}"}
            assert not addresses, addresses
        own = " ".join(r.headers.get("authorization", "") + r.body for r in requests)
        assert all(secret in own or kind == "namecom" for secret in secrets[kind])
