"""Breach notices: who an incident affects, the notice, and its sending within 72 hours.

Staff open an ``Incident`` (the staff pages), send a test to themselves, then send the
notice: ``start_sending`` creates one ``BreachNotice`` per recipient (a rerun adds none
twice) and queues ``send_notices``, which mails them in batches over one SMTP connection
per batch and marks each one the moment its message is accepted, so a run cut short and
run again mails only those not yet sent. A failure is retried by later runs (the periodic
task), up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from smtplib import SMTPException
from typing import Any
from uuid import UUID

import structlog
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.conf import private_dir
from mailpanel.mail import HeaderInjection, build_message, open_connection
from mailpanel.privacy.bounces import breach_tag, permanent_refusal
from mailpanel.privacy.models import BreachNotice, Incident, NoticeState
from mailpanel.privacy.registry import categories
from mailpanel.vault.kinds import KINDS
from mailpanel.vault.models import Credential

log = structlog.get_logger(__name__)

BATCH_SIZE = 200  # messages per SMTP connection
# Batches sent at once, each over its own connection: a receiver takes tens of ms per
# message (its checks, its disk), and one connection at a time waits out every one.
CONNECTIONS = 4
MAX_ATTEMPTS = 3
CREATE_CHUNK = 1000
TEMPLATE = "mail/breach_notice"
LIST_ID = "security"

# The audience kinds (Incident.audience["kind"]).
ALL = "all"
CREDENTIAL_KIND = "credential_kind"
ACTIVE_BETWEEN = "active_between"
EMAILS = "emails"

Recipient = tuple[int | None, str]  # (user id or None for an unknown address, address)


# --- the audience -----------------------------------------------------------------------


def notifiable_users() -> QuerySet[User]:
    """Accounts a notice may go to: not deactivated, not being deleted."""
    return User.objects.filter(is_active=True, deletion_requested_at__isnull=True)


def _all(audience: Mapping[str, Any]) -> QuerySet[User]:
    return notifiable_users()


def _credential_holders(audience: Mapping[str, Any]) -> QuerySet[User]:
    holders = Credential.objects.filter(kind=audience["credential_kind"]).values("owner")
    return notifiable_users().filter(pk__in=holders)


def _active_between(audience: Mapping[str, Any]) -> QuerySet[User]:
    start = datetime.fromisoformat(audience["from"])
    end = datetime.fromisoformat(audience["to"])
    active = ActivityEvent.objects.filter(created_at__gte=start, created_at__lt=end)
    return notifiable_users().filter(pk__in=active.values("owner"))


USER_AUDIENCES: dict[str, Callable[[Mapping[str, Any]], QuerySet[User]]] = {
    ALL: _all,
    CREDENTIAL_KIND: _credential_holders,
    ACTIVE_BETWEEN: _active_between,
}


def _listed(addresses: Sequence[str]) -> list[Recipient]:
    """Every listed address; an account's id where one has it (unknown ones are kept)."""
    wanted = sorted({address.strip().lower() for address in addresses if address.strip()})
    known: dict[str, int] = {}
    for start in range(0, len(wanted), CREATE_CHUNK):
        chunk = wanted[start : start + CREATE_CHUNK]
        known.update(User.objects.filter(email__in=chunk).values_list("email", "pk"))
    return [(known.get(address), address) for address in wanted]


class IncompleteAudience(ValueError):
    """The incident's audience names no kind we know, or lacks what its kind needs."""


def _selected_users(audience: Mapping[str, Any]) -> QuerySet[User]:
    kind = audience.get("kind")
    if kind not in USER_AUDIENCES:
        raise IncompleteAudience(f"unknown audience {kind!r}")
    try:
        return USER_AUDIENCES[kind](audience)
    except (KeyError, TypeError, ValueError) as exc:
        raise IncompleteAudience(f"the {kind} audience is incomplete") from exc


def recipients(audience: Mapping[str, Any]) -> list[Recipient]:
    """Whom the audience selects now; raises IncompleteAudience."""
    if audience.get("kind") == EMAILS:
        return _listed(audience.get("emails", []))
    users = _selected_users(audience).order_by("pk")
    return [(pk, email.lower()) for pk, email in users.values_list("pk", "email")]


def count_recipients(audience: Mapping[str, Any]) -> int:
    """How many the audience selects now (the preview on the incident page)."""
    if audience.get("kind") == EMAILS:
        return len(_listed(audience.get("emails", [])))
    return _selected_users(audience).count()


def describe_audience(audience: Mapping[str, Any]) -> str:
    kind = audience.get("kind")
    if kind == ALL:
        return "All active users"
    if kind == CREDENTIAL_KIND:
        found = KINDS.get(audience.get("credential_kind", ""))
        return f"Users holding a credential of the kind {found.label if found else '?'}"
    if kind == ACTIVE_BETWEEN:
        return f"Users with activity from {audience.get('from')} until {audience.get('to')}"
    if kind == EMAILS:
        return f"A list of {len(audience.get('emails', []))} email addresses"
    return "Not chosen"


# --- the notice -------------------------------------------------------------------------


def category_titles(keys: Sequence[str]) -> list[str]:
    return [cat.title for cat in categories() if cat.key in keys]


def notice_context(incident: Incident) -> dict[str, Any]:
    return {
        "notice_text": incident.notice_text,
        "what_happened": incident.what_happened,
        "category_titles": category_titles(incident.categories),
        "aware_at": incident.aware_at,
        "privacy_email": settings.PRIVACY_EMAIL,
    }


def notice_message(
    incident: Incident,
    to: str,
    *,
    context: Mapping[str, Any] | None = None,
    connection: BaseEmailBackend | None = None,
    subject_prefix: str = "",
    bounce_tag: str = "",
) -> EmailMultiAlternatives:
    return build_message(
        [to],
        subject_prefix + incident.notice_subject,
        TEMPLATE,
        context if context is not None else notice_context(incident),
        automatic=True,
        list_id=LIST_ID,
        reply_to=[settings.PRIVACY_EMAIL],
        bounce_tag=bounce_tag,
        connection=connection,
    )


def send_test(incident: Incident, staff: User) -> str:
    """The notice to the staff member's own address only; its Message-ID."""
    message = notice_message(incident, staff.email, subject_prefix="[TEST] ")
    message.send(fail_silently=False)
    Incident.objects.filter(pk=incident.pk).update(test_sent_at=timezone.now())
    incident.refresh_from_db(fields=["test_sent_at"])
    log.info("breach notice test sent", incident=str(incident.pk), staff_id=staff.pk)
    return str(message.extra_headers["Message-ID"])


# --- sending ----------------------------------------------------------------------------


def start_sending(incident: Incident) -> int:
    """One notice per recipient (none twice), then the sending task; how many were added."""
    from mailpanel.privacy.breach_tasks import send_breach_notices

    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        before = locked.notices.count()
        found = recipients(locked.audience)
        for start in range(0, len(found), CREATE_CHUNK):
            rows = [
                BreachNotice(incident=locked, user_id=user_id, email=email)
                for user_id, email in found[start : start + CREATE_CHUNK]
            ]
            BreachNotice.objects.bulk_create(rows, ignore_conflicts=True)
        added = locked.notices.count() - before
        locked.sending_started_at = locked.sending_started_at or timezone.now()
        if added:
            locked.sending_finished_at = None  # new recipients: not finished any more
        locked.save(update_fields=["sending_started_at", "sending_finished_at"])
        incident_id = str(locked.pk)
        transaction.on_commit(lambda: send_breach_notices(incident_id))
    incident.refresh_from_db()
    log.info("breach notices queued", incident=incident_id, added=added)
    return added


def retriable(incident_id: UUID | str) -> QuerySet[BreachNotice]:
    """Notices still to send: queued, or failed fewer than MAX_ATTEMPTS times."""
    failed_before = Q(state=NoticeState.FAILED, attempts__lt=MAX_ATTEMPTS)
    return BreachNotice.objects.filter(
        Q(state=NoticeState.QUEUED) | failed_before, incident_id=incident_id
    )


def send_notices(
    incident_id: UUID | str,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    connections: int = CONNECTIONS,
) -> int:
    """Send what is left of an incident's notices, each at most once a run; how many sent.

    Up to ``connections`` batches go at once, each over its own SMTP connection, from
    threads with database connections of their own: call it outside a transaction (the
    huey task does), so they see the notices. One run at a time per incident: a run that
    finds another one sending returns 0.
    """
    with sending_lock(incident_id) as held:
        if not held:
            return 0
        incident = Incident.objects.get(pk=incident_id)
        send = partial(_send_batch_in_thread, incident, notice_context(incident))
        sent = 0
        with ThreadPoolExecutor(connections, thread_name_prefix="breach-smtp") as pool:
            for batches in _rounds(incident_id, batch_size, max_batches, connections):
                sent += sum(pool.map(send, batches))
        _finish_if_done(incident)
    log.info("breach notices run", incident=str(incident_id), sent=sent)
    return sent


def _rounds(
    incident_id: UUID | str, batch_size: int, max_batches: int | None, connections: int
) -> Iterator[list[list[BreachNotice]]]:
    """What is left, up to ``connections`` batches at a time, each notice once a run.

    By primary key from where the last round ended, so what failed in this run waits for
    the next one; each round is read after the one before was sent.
    """
    after, taken = 0, 0
    while max_batches is None or taken < max_batches:
        room = connections if max_batches is None else min(connections, max_batches - taken)
        pending = retriable(incident_id).filter(pk__gt=after).order_by("pk")
        rows = list(pending[: batch_size * room])
        if not rows:
            return
        batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
        yield batches
        after, taken = rows[-1].pk, taken + len(batches)


def _send_batch_in_thread(
    incident: Incident, context: Mapping[str, Any], batch: Sequence[BreachNotice]
) -> int:
    try:
        return _send_batch(incident, context, batch)
    finally:
        connection.close()  # this thread's own database connection


def _send_batch(
    incident: Incident, context: Mapping[str, Any], batch: Sequence[BreachNotice]
) -> int:
    smtp = open_connection()
    sent = 0
    try:
        for index, notice in enumerate(batch):
            if not _connected(smtp, batch[index:]):
                break
            sent += _send_one(smtp, incident, context, notice)
    finally:
        smtp.close()
    return sent


def _connected(smtp: BaseEmailBackend, rest: Sequence[BreachNotice]) -> bool:
    """Open the batch's connection (again, after a failure); if it cannot, the rest fail."""
    try:
        smtp.open()  # a no-op while the connection is open
    except OSError as exc:  # smtplib's errors are OSErrors too
        _mark_failed([notice.pk for notice in rest], exc)
        return False
    return True


def _send_one(
    smtp: BaseEmailBackend, incident: Incident, context: Mapping[str, Any], notice: BreachNotice
) -> int:
    message = notice_message(
        incident, notice.email, context=context, connection=smtp, bounce_tag=breach_tag(notice)
    )
    try:
        if not message.send(fail_silently=False):
            raise SMTPException("the message was not accepted")
    except (OSError, HeaderInjection) as exc:
        if refused := permanent_refusal(exc):
            _mark_bounced(notice, refused)
            return 0
        _mark_failed([notice.pk], exc)
        smtp.close()  # the connection may be broken: the next message opens a fresh one
        return 0
    BreachNotice.objects.filter(pk=notice.pk).update(
        state=NoticeState.SENT,
        sent_at=timezone.now(),
        message_id=str(message.extra_headers["Message-ID"]),
        attempts=F("attempts") + 1,
        error="",
    )
    return 1


def _mark_bounced(notice: BreachNotice, reason: str) -> None:
    BreachNotice.objects.filter(pk=notice.pk).update(
        state=NoticeState.BOUNCED,
        bounced_at=timezone.now(),
        error=reason,
        attempts=F("attempts") + 1,
    )
    log.info("breach notice refused for good", notice=notice.pk)


def _mark_failed(pks: Sequence[int], exc: BaseException) -> None:
    error = f"{type(exc).__name__}: {exc}"[:300]
    BreachNotice.objects.filter(pk__in=pks).update(
        state=NoticeState.FAILED, error=error, attempts=F("attempts") + 1
    )
    log.warning("breach notices failed", count=len(pks), error=error)


def _finish_if_done(incident: Incident) -> None:
    if not retriable(incident.pk).exists():
        Incident.objects.filter(pk=incident.pk, sending_finished_at__isnull=True).update(
            sending_finished_at=timezone.now()
        )


def unfinished() -> QuerySet[Incident]:
    return Incident.objects.filter(
        sending_started_at__isnull=False, sending_finished_at__isnull=True
    )


def retry_unfinished() -> int:
    """Run the sending of every incident not finished (the periodic task); how many sent."""
    return sum(send_notices(pk) for pk in unfinished().values_list("pk", flat=True))


def retry_failed(incident: Incident) -> int:
    """Staff give the failed notices MAX_ATTEMPTS more tries (e.g. after an outage)."""
    from mailpanel.privacy.breach_tasks import send_breach_notices

    with transaction.atomic():
        again = incident.notices.filter(state=NoticeState.FAILED).update(
            state=NoticeState.QUEUED, attempts=0
        )
        if again:
            Incident.objects.filter(pk=incident.pk).update(sending_finished_at=None)
            incident_id = str(incident.pk)
            transaction.on_commit(lambda: send_breach_notices(incident_id))
    return again


@contextmanager
def sending_lock(incident_id: UUID | str) -> Iterator[bool]:
    """Whether this run may send the incident's notices: one run at a time.

    Released when the run ends or its process dies (a session advisory lock on
    PostgreSQL, a file lock in the data folder on SQLite), so a killed worker never
    blocks the next run.
    """
    key = UUID(str(incident_id))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key.int >> 65])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key.int >> 65])
        return
    path = private_dir(settings.DATA_DIR / "locks") / f"breach-{key}.lock"
    with open(path, "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the file releases the lock
