"""Export (access and portability): one ZIP per request, streamed to disk, theirs for 7 days.

The ZIP holds ``data.json`` (schema ``mailpanel-export`` version 1, described by
``data.schema.json`` beside it), one CSV per table, one text file per job's log and a
``README.txt``. Every registry category is in it. Sealed values never are: each row says
what is held encrypted. The keys the panel generated for the user (DKIM private keys, SSH
keys it made) leave only in a second form of the download, an AES-256 ZIP under a
passphrase the user types then; the passphrase lives in that one request and nowhere else.
Rows are read with ``.iterator()`` and written entry by entry, so memory stays bounded
whatever the account's size.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pyzipper
from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.conf import private_dir
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.context import JobContext
from mailpanel.jobs.models import JobLogLine
from mailpanel.jobs.registry import job_kind
from mailpanel.mail import send_templated
from mailpanel.privacy.models import DataExport, ExportState
from mailpanel.privacy.registry import Category, Holding, categories
from mailpanel.privacy.retention import Budget, cutoff

SCHEMA_NAME = "mailpanel-export"
SCHEMA_VERSION = 1
NOT_EXPORTED = "held encrypted, not exported"
CHUNK = 2000


class ExportTooSoon(Exception):
    def __init__(self, possible_at: datetime) -> None:
        when = f"{possible_at:%Y-%m-%d %H:%M} UTC"
        super().__init__(f"one export a day: the next is possible at {when}")
        self.possible_at = possible_at


def next_export_at(user: User) -> datetime | None:
    """When this user may ask again, or None when they may now."""
    window = timedelta(hours=settings.EXPORT_MIN_INTERVAL_HOURS)
    last = (
        DataExport.objects.filter(owner=user, created_at__gt=timezone.now() - window)
        .exclude(state=ExportState.FAILED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return last + window if last else None


def request_export(user: User) -> DataExport:
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one request at a time
        possible_at = next_export_at(user)
        if possible_at is not None:
            raise ExportTooSoon(possible_at)
        export = DataExport.objects.create(owner=user)
        job = start_job(user, "privacy.export", "your data", {"export": str(export.pk)})
        DataExport.objects.filter(pk=export.pk).update(job=job)
        export.job = job
        record_event(user, "privacy.export_requested", export, actor=user)
    return export


def export_dir() -> Path:
    return private_dir(Path(settings.EXPORT_DIR))


def export_path(export: DataExport) -> Path:
    return export_dir() / export.file_name


@job_kind("privacy.export", "Export your data", runs_while_paused=True)
def build_export_job(ctx: JobContext) -> None:
    export = DataExport.objects.get(pk=str(ctx.params["export"]), owner=ctx.job.owner_id)
    user = User.objects.get(pk=ctx.job.owner_id)
    name = f"mailpanel-export-{timezone.now():%Y%m%d-%H%M%S}-{str(export.pk)[:8]}.zip"
    final = export_dir() / name
    partial = final.with_suffix(".part")
    try:
        write_export(user, partial, ctx)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        DataExport.objects.filter(pk=export.pk).update(state=ExportState.FAILED)
        raise
    now = timezone.now()
    DataExport.objects.filter(pk=export.pk).update(
        state=ExportState.READY,
        file_name=name,
        size_bytes=final.stat().st_size,
        finished_at=now,
        expires_at=now + timedelta(days=settings.RETENTION_DAYS["exports"]),
    )
    ctx.log(f"The export is ready: {final.stat().st_size} bytes.")
    _mail_ready(user, export)


def _mail_ready(user: User, export: DataExport) -> None:
    link = settings.PUBLIC_URL.rstrip("/") + reverse("privacy_export", args=[export.pk])
    days = settings.RETENTION_DAYS["exports"]
    context = {"link": link, "days": days}
    send_templated([user.email], "Your data export is ready", "mail/export_ready", context)


def write_export(user: User, path: Path, ctx: JobContext | None = None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("data.json", "w") as out:
            _write_data_json(user, out)
        _progress(ctx, 40, "data.json written")
        for cat in categories():
            for holding in cat.holdings:
                with zf.open(f"{cat.key}/{holding.name}.csv", "w") as out:
                    _write_csv(user, holding, out)
        _progress(ctx, 70, "tables written")
        _write_job_logs(user, zf)
        _progress(ctx, 95, "job logs written")
        zf.writestr("data.schema.json", json.dumps(export_schema(), indent=2))
        zf.writestr("README.txt", readme())


def _progress(ctx: JobContext | None, percent: int, text: str) -> None:
    if ctx is not None:
        ctx.check_cancelled()
        ctx.progress(percent, text)


# --- rows ------------------------------------------------------------------------------


def _columns(holding: Holding) -> list[tuple[str, str]]:
    """(name in the export, column to read): a foreign key exports its id."""
    meta = holding.model_class._meta
    out = [("id", "pk")]
    for name in holding.fields:
        field = meta.get_field(name)
        out.append((name, getattr(field, "attname", name)))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)  # UUID, Decimal, date


def rows(user: User, holding: Holding) -> Iterator[dict[str, Any]]:
    columns = _columns(holding)
    qs = holding.rows_of(user).order_by("pk").values_list(*[c for _, c in columns])
    for values in qs.iterator(chunk_size=CHUNK):
        row = {name: _plain(value) for (name, _), value in zip(columns, values, strict=True)}
        row.update({name: NOT_EXPORTED for name in holding.secret_fields})
        yield row


def _write_data_json(user: User, out: IO[bytes]) -> None:
    head = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generated_at": timezone.now().isoformat(),
        "account": {"id": user.pk, "email": user.email},
    }
    out.write(json.dumps(head)[:-1].encode() + b', "categories": {')
    for ci, cat in enumerate(categories()):
        about = json.dumps(_about(cat))[:-1]
        out.write(f'{"," if ci else ""}{json.dumps(cat.key)}: {about}, "tables": {{'.encode())
        for hi, holding in enumerate(cat.holdings):
            out.write(f"{',' if hi else ''}{json.dumps(holding.name)}: [".encode())
            for ri, row in enumerate(rows(user, holding)):
                out.write((b"," if ri else b"") + json.dumps(row).encode())
            out.write(b"]")
        out.write(b"}}")
    out.write(b"}}")


def _about(cat: Category) -> dict[str, Any]:
    return {
        "title": cat.title,
        "purpose": cat.purpose,
        "retention": cat.retention_text,
        "at_end": cat.at_end,
        "exported_as": cat.exported_as,
    }


def _write_csv(user: User, holding: Holding, out: IO[bytes]) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    names = [name for name, _ in _columns(holding)] + list(holding.secret_fields)
    writer.writerow(names)
    for row in rows(user, holding):
        writer.writerow([_cell(row[name]) for name in names])
    text.flush()
    text.detach()


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is kept as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _write_job_logs(user: User, zf: zipfile.ZipFile) -> None:
    lines = (
        JobLogLine.objects.filter(job__owner=user)
        .order_by("job_id", "seq")
        .values_list("job_id", "at", "level", "text")
    )
    current: Any = None
    out: IO[bytes] | None = None
    for job_id, at, level, text in lines.iterator(chunk_size=CHUNK):
        if job_id != current:
            if out is not None:
                out.close()
            out = zf.open(f"job-logs/{job_id}.txt", "w")
            current = job_id
        assert out is not None
        out.write(f"{at.isoformat()} {level:<8} {text}\n".encode())
    if out is not None:
        out.close()


# --- the schema and the README ---------------------------------------------------------


def export_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of data.json, made from the registry: one source."""
    cats: dict[str, Any] = {}
    for cat in categories():
        tables = {
            h.name: {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [n for n, _ in _columns(h)],
                    "properties": {n: {} for n, _ in _columns(h)}
                    | {n: {"const": NOT_EXPORTED} for n in h.secret_fields},
                    "additionalProperties": False,
                },
            }
            for h in cat.holdings
        }
        cats[cat.key] = {
            "type": "object",
            "required": ["title", "purpose", "retention", "at_end", "exported_as", "tables"],
            "properties": {
                "tables": {
                    "type": "object",
                    "required": list(tables),
                    "properties": tables,
                    "additionalProperties": False,
                }
            },
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_NAME}/{SCHEMA_VERSION}",
        "type": "object",
        "required": ["schema", "schema_version", "generated_at", "account", "categories"],
        "properties": {
            "schema": {"const": SCHEMA_NAME},
            "schema_version": {"const": SCHEMA_VERSION},
            "categories": {
                "type": "object",
                "required": list(cats),
                "properties": cats,
                "additionalProperties": False,
            },
        },
    }


def readme() -> str:
    parts = [
        "Your MailPanel Pro data",
        "=======================",
        "",
        f"data.json         everything below in one file (schema {SCHEMA_NAME}, version "
        f"{SCHEMA_VERSION})",
        "data.schema.json  the JSON Schema that data.json follows",
        "<category>/*.csv  one table per file, the same rows as data.json",
        "job-logs/*.txt    the log of each job, one file per job id",
        "keys/             only in the encrypted download: the keys the panel generated",
        "",
        f'A value "{NOT_EXPORTED}" stands for a secret the panel keeps sealed',
        "(passwords are one-way hashes; credentials and keys are AES-256 encrypted).",
        "",
        "Categories:",
    ]
    for cat in categories():
        parts += [
            "",
            f"{cat.key}: {cat.title}",
            f"  why: {cat.purpose}",
            f"  kept: {cat.retention_text}; then {cat.at_end}",
            f"  in this export: {cat.exported_as}",
        ]
        parts += [f"  file: {cat.key}/{h.name}.csv ({h.model})" for h in cat.holdings]
        parts += [f"  outside the database: {f}" for f in cat.files]
    return "\n".join(parts) + "\n"


# --- the download with keys ------------------------------------------------------------


def generated_keys(user: User) -> Iterator[tuple[str, str]]:
    """(file name, PEM) of every key the panel generated for ``user``, opened for them."""
    from mailpanel.domains.models import DkimKey
    from mailpanel.vault.access import open_for_owner
    from mailpanel.vault.models import Credential

    made = Credential.objects.filter(owner=user, metadata__generated=True)
    for credential in made.order_by("label").iterator():
        payload = open_for_owner(credential, user, "your data export with keys")
        yield f"keys/ssh/{_safe(credential.label)}-{credential.pk}.pem", payload["private_key"]
    dkim = DkimKey.objects.filter(owner=user).select_related("domain")
    for key in dkim.order_by("domain__name", "selector").iterator():
        yield f"keys/dkim/{key.domain.name}-{key.selector}.pem", key.unseal()["private_key"]
    record_event(user, "privacy.keys_exported", None, actor=user, message="DKIM and SSH keys")


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:60] or "key"


def write_with_keys(export: DataExport, user: User, passphrase: str) -> IO[bytes]:
    """The export plus the generated keys as an AES-256 ZIP, in an unlinked temporary file."""
    handle = tempfile.TemporaryFile(dir=export_dir())  # noqa: SIM115 (the response closes it)
    with (
        zipfile.ZipFile(export_path(export)) as src,
        pyzipper.AESZipFile(
            handle, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as dst,
    ):
        dst.setpassword(passphrase.encode())
        dst.setencryption(pyzipper.WZ_AES, nbits=256)
        for info in src.infolist():
            with src.open(info) as r, dst.open(info.filename, "w") as w:
                shutil.copyfileobj(r, w, 1 << 16)
        for name, pem in generated_keys(user):
            dst.writestr(name, pem)
    handle.seek(0)
    return handle


# --- retention ------------------------------------------------------------------------


def expire_exports(now: datetime, budget: Budget, batch_size: int) -> int:
    """Delete the files whose 7 days are over; the row stays so the link answers 410."""
    removed = 0
    due = DataExport.objects.filter(expires_at__lte=now).exclude(state=ExportState.EXPIRED)
    while budget.take():
        batch = list(due.order_by("pk")[:batch_size])
        if not batch:
            break
        for export in batch:
            delete_file(export)
        DataExport.objects.filter(pk__in=[e.pk for e in batch]).update(
            state=ExportState.EXPIRED, file_name=""
        )
        removed += len(batch)
    # The row itself (a date and a size) goes with the jobs' period.
    old: Any = DataExport.objects.filter(created_at__lt=cutoff("jobs", now))
    return removed + _delete_rows(old, budget, batch_size)


def _delete_rows(qs: Any, budget: Budget, batch_size: int) -> int:
    from mailpanel.privacy.retention import delete_in_batches

    for export in qs.exclude(file_name=""):
        delete_file(export)
    return delete_in_batches(qs, budget, batch_size)


def delete_file(export: DataExport | Model) -> None:
    name = getattr(export, "file_name", "")
    if name:
        (export_dir() / name).unlink(missing_ok=True)
        (export_dir() / name).with_suffix(".part").unlink(missing_ok=True)


def delete_files_of(user: User) -> None:
    for export in DataExport.objects.filter(owner=user).exclude(file_name=""):
        delete_file(export)
