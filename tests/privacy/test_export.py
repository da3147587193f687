"""Export: every category, the owner's values only, no secret, a ZIP that opens and validates."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import jsonschema
import pyotp
import pytest
import pyzipper
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.jobs.models import Job, JobState
from mailpanel.privacy.exports import NOT_EXPORTED, ExportTooSoon, request_export
from mailpanel.privacy.models import DataExport, ExportState
from mailpanel.privacy.registry import categories
from tests.factories import DEFAULT_PASSWORD
from tests.helpers import drain, enable_totp, login
from tests.privacy.estate import build_estate

pytestmark = pytest.mark.django_db(transaction=True)

OWNER_SECRET = "OWNERSECRETCANARY7731"
OTHER_SECRET = "OTHERSECRETCANARY5519"


def exported(user: User, queue: Huey) -> tuple[DataExport, dict[str, bytes]]:
    export = request_export(user)
    assert drain(queue) == 1
    export.refresh_from_db()
    assert export.state == ExportState.READY, export.job and export.job.error
    from mailpanel.privacy.exports import export_path

    with zipfile.ZipFile(export_path(export)) as zf:
        return export, {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture
def estates(user: User, other_user: User) -> tuple[Any, Any]:
    return build_estate(user, "olive", OWNER_SECRET), build_estate(
        other_user, "canaryother", OTHER_SECRET
    )


def test_the_export_holds_every_category_with_the_owners_values_only(
    estates: tuple[Any, Any], user: User, queue: Huey
) -> None:
    mine, _ = estates
    _, files = exported(user, queue)
    data = json.loads(files["data.json"])
    jsonschema.validate(data, json.loads(files["data.schema.json"]))

    assert set(data["categories"]) == {c.key for c in categories()}
    for cat in categories():
        for holding in cat.holdings:
            rows = data["categories"][cat.key]["tables"][holding.name]
            assert rows, f"{holding.model} exported no row"
            assert f"{cat.key}/{holding.name}.csv" in files
    tables = {n: t for c in data["categories"].values() for n, t in c["tables"].items()}
    assert tables["servers_server"][0]["name"] == "mx-olive"
    assert tables["domains_sendingdomain"][0]["name"] == "olive.example"
    assert tables["vault_credential"][0]["secret"] == NOT_EXPORTED
    assert tables["vault_credential"][0]["label"] == "key-olive"
    assert tables["usersessions_usersession"][0]["user_agent"] == "UA-olive"
    assert tables["accounts_user"][0]["email"] == user.email
    assert data["account"]["email"] == user.email
    assert files[f"job-logs/{mine.job.pk}.txt"].decode().rstrip().endswith("log line of olive")
    assert b"What each file" not in files["README.txt"]
    assert b"data.json" in files["README.txt"]

    everything = b"".join(files.values())
    assert b"canaryother" not in everything
    assert OTHER_SECRET.encode() not in everything
    assert OWNER_SECRET.encode() not in everything  # sealed: never exported
    assert b"confirmkeyolive" not in everything


def test_csv_tables_match_the_json_and_keep_formulas_as_text(user: User, queue: Huey) -> None:
    from mailpanel.servers.models import Server
    from mailpanel.vault.models import Credential

    credential = Credential(owner=user, kind="ssh_key", label="k")
    credential.seal({"private_key": "x", "passphrase": ""})
    credential.save()
    Server.objects.create(owner=user, credential=credential, name="=HYPERLINK(1)", host="h")
    _, files = exported(user, queue)
    rows = list(csv.DictReader(io.StringIO(files["servers/servers_server.csv"].decode())))
    assert rows[0]["name"] == "'=HYPERLINK(1)"
    assert rows[0]["host"] == "h"


def test_one_export_a_day_and_the_refusal_says_when(user: User, queue: Huey) -> None:
    exported(user, queue)
    with pytest.raises(ExportTooSoon) as refused:
        request_export(user)
    assert refused.value.possible_at > timezone.now() + timedelta(hours=23)
    client = Client()
    client.force_login(user)
    page = client.post(reverse("privacy_export_request"), follow=True)
    assert b"the next is possible at" in page.content
    assert DataExport.objects.filter(owner=user).count() == 1
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        request_export(user)


def test_the_link_is_the_owners_alone_and_gone_after_seven_days(
    user: User, other_user: User, queue: Huey
) -> None:
    export, _ = exported(user, queue)
    owner, other, nobody = Client(), Client(), Client()
    owner.force_login(user)
    other.force_login(other_user)
    url = reverse("privacy_download", args=[export.pk])

    response = owner.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"PK"  # type: ignore[attr-defined]
    assert other.get(url).status_code == 404
    assert other.get(reverse("privacy_export", args=[export.pk])).status_code == 404
    assert nobody.get(url).status_code == 302  # to sign in

    (message,) = [m for m in mail.outbox if m.to == [user.email]]
    assert reverse("privacy_export", args=[export.pk]) in message.body

    from mailpanel.privacy.exports import export_path
    from mailpanel.privacy.retention import purge

    path = export_path(export)
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        assert owner.get(url).status_code == 410
        purge()
        gone = owner.get(reverse("privacy_export", args=[export.pk]))
        assert gone.status_code == 410
        assert b"expired" in gone.content
    assert not path.exists()
    export.refresh_from_db()
    assert export.state == ExportState.EXPIRED


def test_the_download_with_keys_is_an_aes_zip_behind_password_code_and_passphrase(
    estates: tuple[Any, Any], user: User, queue: Huey
) -> None:
    from allauth.mfa.models import Authenticator

    Authenticator.objects.filter(user=user).delete()  # the estate's: we enrol a real one
    client = Client()
    login(client, user.email)
    totp = enable_totp(client)
    export, _ = exported(user, queue)
    url = reverse("privacy_download_keys", args=[export.pk])
    good = {"password": DEFAULT_PASSWORD, "passphrase": "a long passphrase"}
    good["passphrase_again"] = good["passphrase"]

    wrong = client.post(url, {**good, "password": "nope", "code": pyotp.TOTP(totp).now()})
    assert wrong.status_code == 200
    assert b"That is not your password" in wrong.content
    no_code = client.post(url, good)
    assert b"Enter a code" in no_code.content
    short = {**good, "passphrase": "short", "passphrase_again": "short"}
    assert b"at least 12" in client.post(url, short).content

    response = client.post(url, {**good, "code": pyotp.TOTP(totp).now()})
    assert response.status_code == 200, response.content[:400]
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert OWNER_SECRET.encode() not in body  # encrypted on the wire and on disk
    with pyzipper.AESZipFile(io.BytesIO(body)) as zf:
        with pytest.raises(RuntimeError):
            zf.read("data.json")  # no passphrase, no data
        zf.setpassword(good["passphrase"].encode())
        names = zf.namelist()
        dkim = [n for n in names if n.startswith("keys/dkim/")]
        ssh = [n for n in names if n.startswith("keys/ssh/")]
        assert dkim and ssh
        assert OWNER_SECRET.encode() in zf.read(dkim[0])
        assert OWNER_SECRET.encode() in zf.read(ssh[0])
        assert b"canaryother" not in b"".join(zf.read(n) for n in names)
    assert ActivityEvent.objects.filter(owner=user, action="privacy.keys_exported").exists()


def test_a_failed_export_can_be_asked_for_again(user: User, queue: Huey) -> None:
    export = request_export(user)
    DataExport.objects.filter(pk=export.pk).update(state=ExportState.FAILED)
    assert export.job is not None
    Job.objects.filter(pk=export.job.pk).update(state=JobState.FAILED)
    queue.flush()
    assert request_export(user).pk != export.pk
