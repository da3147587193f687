"""Building blocks of the DNS tests: a server known by its facts, domains, accounts, jobs."""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

from django.utils import timezone
from huey.api import Huey

from lab.providers.base import FakeProvider, RecordedRequest
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.dns import actions
from mailpanel.dns.models import DnsAccount, DnsPlan, DomainZone
from mailpanel.domains.dkim import generate_key_pair
from mailpanel.domains.models import DkimKey, SendingDomain
from mailpanel.jobs.models import Job
from mailpanel.servers.models import HostKeyState, Server
from mailpanel.vault.actions import create_credential, generate_ssh_key
from tests.dns.conftest import CREDENTIALS
from tests.helpers import drain

SERVER_IPS = ("192.0.2.25", "2001:db8::25")


@functools.cache
def key_pair() -> tuple[str, str]:
    """One 2048-bit key for the tests that do not sign (generating one takes a while)."""
    return generate_key_pair()


def make_server(
    owner: User,
    mail_hostname: str = "mail.example.test",
    ips: tuple[str, ...] = SERVER_IPS,
    converged: bool = False,
) -> Server:
    """A server the panel knows by its facts; DNS plans need no SSH to it. ``converged``: as
    after a provisioning that succeeded."""
    return Server.objects.create(
        owner=owner,
        name=f"srv-{uuid.uuid4().hex[:6]}",
        host=ips[0],
        credential=generate_ssh_key(owner, f"key-{uuid.uuid4().hex[:6]}"),
        mail_hostname=mail_hostname,
        facts={"ips": list(ips)},
        host_key_state=HostKeyState.CONFIRMED,
        converged_at=timezone.now() if converged else None,
    )


def make_domain(owner: User, server: Server, name: str, **fields: Any) -> SendingDomain:
    """A domain with a DKIM key, verified (its owner proved control) unless told otherwise."""
    fields.setdefault("verified_at", timezone.now())
    fields.setdefault("verified_by", "txt" if fields["verified_at"] else "")
    domain = SendingDomain.objects.create(owner=owner, server=server, name=name, **fields)
    private_pem, public_b64 = key_pair()
    key = DkimKey(owner=owner, domain=domain, selector="mp202601", public_key=public_b64)
    key.seal({"private_key": private_pem})
    key.save()
    return domain


def connect(
    owner: User,
    kind: str,
    queue: Huey,
    secret: dict[str, str] | None = None,
    label: str = "",
) -> DnsAccount:
    """Connect an account through the real action and its test job."""
    credential = create_credential(
        owner, kind, f"{kind} {uuid.uuid4().hex[:4]}", secret or CREDENTIALS[kind]
    )
    account, _job = actions.connect_account(owner, credential, label or f"{kind} account")
    drain(queue)
    account.refresh_from_db()
    return account


def linked(owner: User, kind: str, domain: SendingDomain, queue: Huey, zone: str) -> DomainZone:
    account = DnsAccount.objects.filter(owner=owner, provider=kind).first() or connect(
        owner, kind, queue
    )
    return actions.link_zone(domain, account, zone)


def plan_and_apply(domain: SendingDomain, queue: Huey, ttl: int = 3600) -> DnsPlan:
    """Plan, check the plan job worked, apply, run the queue; returns the plan, refreshed."""
    plan = actions.start_plan(domain, ttl)
    drain(queue)
    plan.refresh_from_db()
    assert plan.state == "planned", job_text(plan.plan_job)
    actions.start_apply(plan)
    drain(queue)
    plan.refresh_from_db()
    return plan


def job_text(job: Job | None) -> str:
    if job is None:
        return "(no job)"
    job.refresh_from_db()
    lines = "\n".join(job.log_lines.values_list("text", flat=True))
    return f"{job.state}: {job.error}\n{lines}"


def settled(fake: FakeProvider) -> list[RecordedRequest]:
    """The request log once it stops growing (a fake logs just after answering)."""
    count = -1
    while count != len(fake.requests):
        count = len(fake.requests)
        time.sleep(0.02)
    return list(fake.requests)


def writes(fake: FakeProvider) -> list[RecordedRequest]:
    return [r for r in settled(fake) if r.method != "GET" and not r.path.endswith("/auth/login")]


def zone_rows(store: ZoneStore, provider: str, zone: str) -> list[dict[str, Any]]:
    [row] = [z for z in store.zones(provider) if z["name"] == zone]
    return store.records(row["id"])
