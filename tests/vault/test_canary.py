"""Canary values in every kind of credential appear nowhere but as ciphertext.

Each flow that exists runs with unique canary strings: the pages (owner and staff),
a job that uses credentials and fails, a Django error report, every log line at DEBUG
(SQL included), a dump of the whole database and the database file itself. A TOTP key
and a recovery-code seed are canaries too: the vault seals them for allauth.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.debug import technical_500_response
from huey.api import Huey

from mailpanel.accounts.mfa_secrets import unseal
from mailpanel.accounts.models import User
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.models import Job, JobState
from mailpanel.logs import RedactingFormatter
from mailpanel.vault.models import Credential
from tests.helpers import drain, staff_client_with_2fa
from tests.vault.conftest import private_key

SSH_PEM = private_key("ssh-ed25519", passphrase="CANARYpassphrase0001")
CANARIES = {
    "ssh_key": {"private_key": SSH_PEM, "passphrase": "CANARYpassphrase0001"},
    "ssh_password": {"password": "CANARYsshpassword0002"},
    "cloudflare": {"token": "CANARYcloudflare" + "0003" * 6},
    "namecom": {"username": "CANARYnamecomuser0004", "token": "CANARYnamecomtoken0005abcdef"},
    "openprovider": {"username": "CANARYopuser0006", "password": "CANARYoppassword0007"},
    "nvidia": {"api_key": "nvapi-CANARYnvidia0008abcdefghij"},
}
TOTP_CANARY = "CANARYTOTPSECRETMFAQQQQ2345AAAAA"  # base32, as allauth makes them


def database_as_stored() -> str:
    """The SQLite file and its write-ahead log as bytes on disk; on PostgreSQL, the
    authenticator rows as the server returns them."""
    if connection.vendor != "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT data::text FROM mfa_authenticator")
            return "\n".join(row[0] for row in cursor.fetchall())
    name = Path(connection.settings_dict["NAME"])
    files = [name, name.with_name(f"{name.name}-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists()).decode("latin-1")


def canary_strings() -> list[str]:
    values = [v for fields in CANARIES.values() for v in fields.values() if v != SSH_PEM]
    values.append(TOTP_CANARY)
    # The body of the private key, line by line: any one of them leaking is a leak.
    body = [line for line in SSH_PEM.splitlines() if line and not line.startswith("-----")]
    return values + body


def assert_no_canary(text: str, where: str) -> None:
    for canary in canary_strings():
        assert canary not in text, f"canary {canary[:16]}… leaked into {where}"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every log record, at DEBUG, through the panel's real formatter and filter."""
    stream = io.StringIO()
    root = logging.getLogger()
    console = next(h for h in root.handlers if isinstance(h.formatter, RedactingFormatter))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for filt in console.filters:
        handler.addFilter(filt)
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    db_logger = logging.getLogger("django.db.backends")
    db_old = db_logger.level
    db_logger.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(old)
    db_logger.setLevel(db_old)
    root.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
def test_no_canary_appears_outside_the_vault(
    user: User, queue: Huey, log_output: io.StringIO, settings: object
) -> None:
    settings.DEBUG = True  # type: ignore[attr-defined]  # SQL statements reach the log too
    client = Client()
    client.force_login(user)
    seen: list[str] = []
    TOTP.activate(user, TOTP_CANARY)
    codes = RecoveryCodes.activate(user).instance

    for kind, fields in CANARIES.items():
        response = client.post(
            reverse("credential_add"), {"kind": kind, "label": f"canary {kind}", **fields}
        )
        assert response.status_code == 302, response.content.decode()[-500:]
        seen.append(client.get(response["Location"]).content.decode())
    credentials = list(Credential.objects.filter(owner=user))
    assert len(credentials) == len(CANARIES)

    seen.append(client.get(reverse("credential_list")).content.decode())
    for credential in credentials:
        for name in ("credential_replace", "credential_delete"):
            seen.append(client.get(reverse(name, args=[credential.pk])).content.decode())
        # A bad replacement is refused; its error page must not echo the stored secret.
        seen.append(
            client.post(reverse("credential_replace", args=[credential.pk]), {}).content.decode()
        )

    jobs = [
        start_job(user, "credential.test", c.label, {"credential_id": str(c.pk)})
        for c in credentials
        if c.kind != "ssh_password"
    ]
    drain(queue)
    for job in jobs:
        job.refresh_from_db()
        page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
        seen.append(page)
        seen.append(job.error)
        seen.extend(job.log_lines.values_list("text", flat=True))
    failed = Job.objects.filter(pk__in=[j.pk for j in jobs], state=JobState.FAILED)
    assert failed.count() >= 4, "the provider and NVIDIA checks must fail against closed ports"

    staff = staff_client_with_2fa("staff@example.test")
    seen.append(staff.get("/staff/vault/credential/").content.decode())
    for credential in credentials:
        response = staff.get(f"/staff/vault/credential/{credential.pk}/change/")
        assert response.status_code == 200
        seen.append(response.content.decode())
    seen.append(staff.get(f"/staff/accounts/user/{user.pk}/change/").content.decode())

    seen.append(error_report_with_secrets_in_scope())

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    seen.append(dump.getvalue())
    seen.append(log_output.getvalue())
    assert "INSERT" in log_output.getvalue() or "insert" in log_output.getvalue()
    connection.close()  # the file on disk, not a page cache: SQLite writes its WAL on commit
    stored = database_as_stored()
    seen.append(stored)

    seed = unseal(Authenticator.objects.get(pk=codes.pk).data["seed"])
    for index, text in enumerate(seen):
        assert_no_canary(text, f"output #{index}")
        assert seed not in text, f"the recovery-code seed leaked into output #{index}"
    # And the canaries really are in the database, as ciphertext that opens.
    assert {c.kind: c.unseal() for c in credentials} == CANARIES
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert unseal(totp.data["secret"]) == TOTP_CANARY
    assert totp.data["secret"] in stored  # what was read is the live database


def error_report_with_secrets_in_scope() -> str:
    """A crash while a secret is in a local variable and in the POST data: the debug page."""
    token = CANARIES["cloudflare"]["token"]
    request = RequestFactory().post("/credentials/add/", {"token": token, "kind": "cloudflare"})

    def use(secret_value: str) -> None:
        raise RuntimeError("provider refused")

    try:
        use(token)
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    return response.content.decode()
