"""Keeping a received message: its raw file first (0600, on disk), then its row.

The receiver answers 250 only after :func:`store_message` returned, so a message the
sender was told we have is on disk and in the database. The same Message-ID twice is
stored once; the second delivery is still a success for the sender.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from mailpanel.conf import private_dir
from mailpanel.inbound.models import InboundAttachment, InboundMessage
from mailpanel.inbound.parse import MAX_ADDRESS, ParsedMessage, one_line, parse_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    message: InboundMessage
    created: bool  # False: a redelivery of a message we already had


def inbound_dir() -> Path:
    """``DATA_DIR/inbound`` (0700): raw messages and kept attachments."""
    return private_dir(Path(settings.DATA_DIR) / "inbound")


def raw_path(message: InboundMessage) -> Path:
    return inbound_dir() / message.raw_file


def attachment_path(attachment: InboundAttachment) -> Path | None:
    """The kept file of an attachment, or None when it was over the size cap."""
    return inbound_dir() / attachment.stored_file if attachment.stored_file else None


def stored_files(messages: Iterable[InboundMessage]) -> list[Path]:
    """The raw files and kept attachments of these messages."""
    messages = list(messages)
    kept = InboundAttachment.objects.filter(message__in=messages).exclude(stored_file="")
    names = [m.raw_file for m in messages if m.raw_file]
    names += kept.values_list("stored_file", flat=True)
    folder = inbound_dir()
    return [folder / name for name in names]


def delete_stored_files(messages: Iterable[InboundMessage]) -> int:
    """Remove the raw files and kept attachments of these messages (the caller deletes the
    rows after); returns how many files went. A file already gone is not an error."""
    return remove_files(stored_files(messages))


def remove_files(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def store_message(raw: bytes, mail_from: str, rcpt_to: Iterable[str]) -> Stored:
    """Parse and keep one message (blocking: call it from a thread, not the event loop)."""
    parsed = parse_message(raw)
    existing = InboundMessage.objects.filter(message_id=parsed.message_id).first()
    if existing is not None:
        return Stored(existing, created=False)
    written: list[Path] = []
    try:
        with transaction.atomic():
            message = _keep(raw, parsed, mail_from, rcpt_to, written)
            transaction.on_commit(partial(_queue_routing, str(message.pk)), robust=True)
    except IntegrityError:
        # The same Message-ID arrived on another connection a moment ago.
        remove_files(written)
        return Stored(InboundMessage.objects.get(message_id=parsed.message_id), created=False)
    except BaseException:
        remove_files(written)
        raise
    log.info("inbound: stored %s (%d bytes)", message.pk, message.raw_size)
    return Stored(message, created=True)


def _keep(
    raw: bytes, parsed: ParsedMessage, mail_from: str, rcpt_to: Iterable[str], written: list[Path]
) -> InboundMessage:
    folder = inbound_dir()
    message = InboundMessage(
        id=uuid.uuid4(),
        message_id=parsed.message_id,
        mail_from=one_line(mail_from)[:MAX_ADDRESS],
        rcpt_to=list(dict.fromkeys(one_line(r).lower() for r in rcpt_to)),
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        subject=parsed.subject,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        text_body=parsed.text_body,
        html_body=parsed.html_body,
        raw_size=len(raw),
    )
    message.raw_file = f"{message.pk}.eml"
    write_private_file(folder / message.raw_file, raw)
    written.append(folder / message.raw_file)
    attachments = []
    for part in parsed.attachments:
        stored_file = ""
        if part.size <= settings.INBOUND_ATTACHMENT_MAX_BYTES:
            stored_file = f"att-{uuid.uuid4()}"
            write_private_file(folder / stored_file, part.payload)
            written.append(folder / stored_file)
        attachments.append(
            InboundAttachment(
                message=message,
                filename=part.filename,
                content_type=part.content_type,
                size=part.size,
                stored_file=stored_file,
            )
        )
    _fsync_dir(folder)  # the new names, not only the contents, survive a crash
    message.save(force_insert=True)
    InboundAttachment.objects.bulk_create(attachments)
    return message


def write_private_file(path: Path, data: bytes) -> None:
    """A new file, mode 0600 whatever the umask, flushed to disk before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _queue_routing(message_pk: str) -> None:
    from mailpanel.inbound.tasks import route_inbound_task

    route_inbound_task(message_pk)
