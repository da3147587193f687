"""The rows the benchmark measures on, made with bulk_create (not part of the figures).

Every secret is sealed under its owner's data key, as the panel stores them: the big
account's by the models' own ``seal``, the rotation's 130,000 by ``QuickSealer``. One RSA
key is generated once and reused: a fresh key per row would make building take minutes and
changes nothing measured.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.activity.signins import SIGN_IN_ACTIONS
from mailpanel.domains.models import DkimKey, SendingDomain
from mailpanel.jobs.models import Job, JobLogLine, JobState, LogLevel
from mailpanel.servers.models import HostKeyState, Server
from mailpanel.vault.keyring import DATA_KEY_MARK, encrypt_with_data_key, get_keyring
from mailpanel.vault.models import Credential, DataKey
from mailpanel.vault.sealed import Sealed

S = TypeVar("S", bound=Sealed)
BATCH = 5_000
STEPS = (
    ("command", "apt-get install -y postfix opendkim opendkim-tools"),
    ("changed", "/etc/postfix/main.cf: smtpd_tls_security_level = may"),
    ("info", "opendkim.service restarted, active (running) since the last converge"),
    ("warning", "the PTR of 192.0.2.25 is mail.example.test, not the mail hostname"),
)
ACTIONS = ("server.converged", "domain.verified", "credential.used", "dns.plan_applied")


@dataclass(frozen=True)
class RsaKey:
    pem: str
    public: str  # base64 DER SubjectPublicKeyInfo, the p= of a DKIM record


def rsa_key() -> RsaKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return RsaKey(pem=pem, public=base64.b64encode(der).decode())


Seal = Callable[[S, dict[str, Any]], S]


def sealed(row: S, payload: dict[str, Any]) -> S:
    """``row`` with its secret sealed: its id and owner are set first, as sealing needs."""
    row.id = uuid.uuid4()
    row.seal(payload)
    return row


class QuickSealer:
    """``Sealed.seal`` with each owner's data key unwrapped once, for building many rows.

    The model's ``seal`` reads the owner's data key row on every call (as it must: a
    shredded key is never served from memory); 130,000 of those ORM reads made building
    the rotation's users take minutes. The first row of each owner is sealed by the model
    itself (which makes their data key); the rest are the same ciphertext format, and the
    re-encrypting rotation opens every one of them, so a wrong one would fail the run.
    """

    def __init__(self) -> None:
        self.keys: dict[Any, bytes] = {}

    def __call__(self, row: S, payload: dict[str, Any]) -> S:
        row.id = uuid.uuid4()
        owner = getattr(row, row.owner_field)
        if owner not in self.keys:
            row.seal(payload)
            wrapped = DataKey.objects.get(owner_id=owner).wrapped
            self.keys[owner] = get_keyring().unwrap_data_key(wrapped, owner)
            return row
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        row.secret = encrypt_with_data_key(self.keys[owner], text.encode(), row._place())
        row.secret_key_id = DATA_KEY_MARK
        return row


def users(prefix: str, count: int) -> list[User]:
    """``count`` accounts with an unusable password set directly (no hashing)."""
    return User.objects.bulk_create(
        (
            User(
                email=f"{prefix}{n:05d}@example.test",
                full_name=f"Bench {n}",
                password=make_password(None),
            )
            for n in range(count)
        ),
        batch_size=BATCH,
    )


def credentials(owner: User, key: RsaKey, seal: Seal[Credential] = sealed) -> list[Credential]:
    """An SSH key, a DNS provider token and an NVIDIA key: the three kinds a user has."""
    return [
        seal(
            Credential(owner=owner, kind="ssh_key", label="ssh", metadata={"key_type": "RSA"}),
            {"private_key": key.pem},
        ),
        seal(
            Credential(owner=owner, kind="cloudflare", label="dns", metadata={"hint": "9f3a"}),
            {"token": "cf-" + "x" * 37 + "9f3a"},
        ),
        seal(
            Credential(owner=owner, kind="nvidia", label="nvidia", metadata={"hint": "b71c"}),
            {"api_key": "nvapi-" + "y" * 60 + "b71c"},
        ),
    ]


def servers(owner: User, login: Credential, count: int) -> list[Server]:
    return [
        Server(
            owner=owner,
            name=f"mx{n:04d}",
            host="192.0.2.25",
            credential=login,
            mail_hostname=f"mx{n}.u{owner.pk}.example.test",
            host_key_state=HostKeyState.CONFIRMED,
            facts={"os_name": "Debian GNU/Linux 12", "postfix": "3.7.11"},
        )
        for n in range(count)
    ]


def domains(owner: User, fleet: list[Server], count: int) -> list[SendingDomain]:
    now = timezone.now()
    return [
        SendingDomain(
            owner=owner,
            server=fleet[n % len(fleet)],
            name=f"d{n:05d}.u{owner.pk}.example.test",
            verified_at=now,
            verified_by="txt",
        )
        for n in range(count)
    ]


def dkim_keys(
    owner: User, names: list[SendingDomain], key: RsaKey, seal: Seal[DkimKey] = sealed
) -> list[DkimKey]:
    return [
        seal(
            DkimKey(owner=owner, domain=domain, selector="mp1", public_key=key.public),
            {"private_key": key.pem},
        )
        for domain in names
    ]


def big_account(key: RsaKey, sizes: dict[str, int]) -> User:
    """One account with ``sizes`` servers, domains (a DKIM key each), jobs, log lines, events."""
    (owner,) = users("big", 1)
    with transaction.atomic():
        login, *_ = Credential.objects.bulk_create(credentials(owner, key))
        fleet = Server.objects.bulk_create(servers(owner, login, sizes["servers"]))
        names = SendingDomain.objects.bulk_create(
            domains(owner, fleet, sizes["domains"]), batch_size=BATCH
        )
        DkimKey.objects.bulk_create(dkim_keys(owner, names, key), batch_size=BATCH)
    jobs = _jobs(owner, fleet, sizes["jobs"])
    _log_lines(jobs, sizes["job_log_lines"])
    _events(owner, jobs, sizes["activity_events"])
    return owner


def _jobs(owner: User, fleet: list[Server], count: int) -> list[Job]:
    now = timezone.now()
    return Job.objects.bulk_create(
        (
            Job(
                owner=owner,
                kind="servers.converge",
                target=fleet[n % len(fleet)].name,
                params={"server": str(fleet[n % len(fleet)].pk)},
                state=JobState.SUCCEEDED,
                progress=100,
                started_at=now,
                finished_at=now,
            )
            for n in range(count)
        ),
        batch_size=BATCH,
    )


def _log_lines(jobs: list[Job], count: int) -> None:
    per_job = count // len(jobs)
    rows = (
        JobLogLine(
            job=job,
            seq=seq,
            level=LogLevel(STEPS[seq % len(STEPS)][0]),
            text=f"step {seq}: {STEPS[seq % len(STEPS)][1]}",
        )
        for job in jobs
        for seq in range(per_job)
    )
    with transaction.atomic():
        JobLogLine.objects.bulk_create(rows, batch_size=BATCH)


def _events(owner: User, jobs: list[Job], count: int) -> None:
    def event(n: int) -> ActivityEvent:
        if n % 10 == 0:  # one in ten a sign-in, from somewhere
            return ActivityEvent(
                owner=owner,
                actor=owner,
                action=SIGN_IN_ACTIONS[0],
                ip=f"198.51.100.{n % 250 + 1}",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            )
        job = jobs[n % len(jobs)]
        return ActivityEvent(
            owner=owner,
            action=ACTIONS[n % len(ACTIONS)],
            object_type="jobs.job",
            object_id=str(job.pk),
            object_label=job.target,
            job=job,
            message=f"run {n} finished in {n % 90 + 3} s",
        )

    with transaction.atomic():
        ActivityEvent.objects.bulk_create((event(n) for n in range(count)), batch_size=BATCH)


def population(count: int, key: RsaKey, domains_each: int, chunk: int = 500) -> list[User]:
    """``count`` users, each with 3 credentials, 1 server and ``domains_each`` signed domains."""
    everyone = users("rot", count)
    quick = QuickSealer()
    for start in range(0, count, chunk):
        with transaction.atomic():  # each user's first seal makes their data key: one commit
            part = everyone[start : start + chunk]
            creds = Credential.objects.bulk_create(
                [c for owner in part for c in credentials(owner, key, quick)], batch_size=BATCH
            )
            logins = {c.owner_id: c for c in creds if c.kind == "ssh_key"}
            fleet = Server.objects.bulk_create(
                [s for owner in part for s in servers(owner, logins[owner.pk], 1)]
            )
            names = SendingDomain.objects.bulk_create(
                [d for s in fleet for d in domains(s.owner, [s], domains_each)], batch_size=BATCH
            )
            DkimKey.objects.bulk_create(
                [k for d in names for k in dkim_keys(d.owner, [d], key, quick)], batch_size=BATCH
            )
    return everyone
