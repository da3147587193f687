"""Privacy policy versions: their history and diffs, and the notice of a material change.

A material version is told to every active user twice: by mail (``start_notice`` creates
one ``PolicyNotice`` per user, ``send_notices`` mails them in batches) and by a banner on
every page until they acknowledge it (``mailpanel.privacy.context``).

Sending is at most once per user. Each notice is claimed before its message goes out (its
Message-ID written where it was empty, in one conditional UPDATE), so two workers never
send the same one, and it is marked sent right after the server accepts it. A worker killed
between those two moments leaves that one notice claimed but unmarked: a rerun does not
send it again (it may have been delivered), and the banner still tells that user.
"""

from __future__ import annotations

import difflib
import re
import smtplib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import structlog
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import dateformat, timezone

from mailpanel.accounts.models import User
from mailpanel.mail import new_message_id, open_connection, send_templated
from mailpanel.privacy.bounces import permanent_refusal, policy_tag
from mailpanel.privacy.models import NoticeState, PolicyAcceptance, PolicyNotice, PolicyVersion

log = structlog.get_logger(__name__)

BATCH_SIZE = 200  # notices per SMTP connection
MAX_ATTEMPTS = 3  # a failed notice is retried by the next runs until it has tried this often
LIST_ID = "policy"
NOTICE_TEMPLATE = "mail/policy_notice"
# A claimed notice older than this whose run never marked it: its worker died (a run marks
# each notice within seconds of claiming it).
STRANDED_AFTER = timedelta(minutes=15)
# A version id goes into URLs and mail: letters, digits, dot, dash, underscore.
VERSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


class NoticeRefused(ValueError):
    """Only a material change is mailed and bannered."""


def valid_version_id(value: str) -> bool:
    return VERSION_ID.fullmatch(value) is not None


def version_or_none(version: str) -> PolicyVersion | None:
    """The version with this id; None for an unknown or malformed one (no query for junk)."""
    if not valid_version_id(version):
        return None
    return PolicyVersion.objects.filter(version=version).first()


def is_effective(policy: PolicyVersion, now: datetime | None = None) -> bool:
    return policy.published_at <= (now or timezone.now())


def effective_date(moment: datetime) -> str:
    """An effective date as people read it: "1 December 2026"."""
    return str(dateformat.format(timezone.localtime(moment), "j F Y"))


def previous_version(policy: PolicyVersion) -> PolicyVersion | None:
    """The version this one replaces (the one effective just before it)."""
    return (
        PolicyVersion.objects.filter(published_at__lt=policy.published_at)
        .order_by("-published_at")
        .first()
    )


def diff_path(to: str, from_: str = "") -> str:
    """The public diff page; without ``from_`` it compares with the version before."""
    query = {"from": from_, "to": to} if from_ else {"to": to}
    return f"{reverse('privacy_policy_diff')}?{urlencode(query)}"


# --- diff -------------------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    kind: Literal["same", "removed", "added", "gap"]
    old_no: int | None
    new_no: int | None
    text: str


def diff_lines(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """The changed lines of two texts with ``context`` lines around each change; a "gap"
    line stands for the unchanged lines left out. Plain text: the template escapes it."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    lines: list[DiffLine] = []
    groups = list(matcher.get_grouped_opcodes(context))
    for group in groups:
        if lines or group[0][1] > 0 or group[0][3] > 0:
            lines.append(DiffLine("gap", None, None, "…"))
        for tag, i1, i2, j1, j2 in group:
            lines += _opcode_lines(tag, a, b, (i1, i2, j1, j2))
    if groups and (groups[-1][-1][2] < len(a) or groups[-1][-1][4] < len(b)):
        lines.append(DiffLine("gap", None, None, "…"))
    return lines


def _opcode_lines(tag: str, a: list[str], b: list[str], span: tuple[int, ...]) -> list[DiffLine]:
    i1, i2, j1, j2 = span
    if tag == "equal":
        return [
            DiffLine("same", i + 1, j + 1, a[i])
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
        ]
    removed = [DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2)]
    added = [DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2)]
    return removed + added


# --- the notice ---------------------------------------------------------------


def audience(policy: PolicyVersion) -> QuerySet[User]:
    """Who is told of a version: active accounts not being deleted, that existed when its
    notice was first sent (who joined later accepted the policy at signup)."""
    users = User.objects.filter(is_active=True, deletion_requested_at__isnull=True)
    if policy.notice_started_at is not None:
        users = users.filter(date_joined__lte=policy.notice_started_at)
    return users


def _chunks(values: Iterable[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def start_notice(policy: PolicyVersion) -> int:
    """Create the notices of a material version (one per user in its audience, none twice)
    and queue their sending; how many notices were new. Safe to run again: a rerun sends
    the notices still queued and retries the failed ones."""
    from mailpanel.privacy.policy_tasks import send_policy_notices_task

    if not policy.material:
        raise NoticeRefused(f"{policy.version} is not a material change: no notice is sent")
    with transaction.atomic():
        locked = PolicyVersion.objects.select_for_update().get(pk=policy.pk)
        if locked.notice_started_at is None:
            locked.notice_started_at = timezone.now()
            locked.save(update_fields=["notice_started_at"])
        before = locked.notices.count()
        ids = audience(locked).order_by("pk").values_list("pk", flat=True)
        for chunk in _chunks(ids.iterator(), 1000):
            PolicyNotice.objects.bulk_create(
                [PolicyNotice(user_id=pk, policy=locked) for pk in chunk], ignore_conflicts=True
            )
        created = locked.notices.count() - before
        transaction.on_commit(lambda: send_policy_notices_task(locked.pk))
        notices_changed()
    policy.notice_started_at = locked.notice_started_at
    log.info("policy.notice_started", policy=locked.version, created=created)
    return created


@dataclass
class SendReport:
    batches: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0
    errors: list[str] = field(default_factory=list)


def sendable() -> QuerySet[PolicyNotice]:
    """Notices still to send, in order: queued, or failed fewer than MAX_ATTEMPTS times;
    never one claimed by a run (its Message-ID set) nor one whose user left since."""
    return (
        PolicyNotice.objects.filter(message_id="", attempts__lt=MAX_ATTEMPTS)
        .filter(Q(state=NoticeState.QUEUED) | Q(state=NoticeState.FAILED))
        .filter(user__is_active=True, user__deletion_requested_at__isnull=True)
        .select_related("user")
        .order_by("pk")
    )


def notice_context(policy: PolicyVersion) -> dict[str, Any]:
    previous = previous_version(policy)
    return {
        "policy": policy,
        "effective_date": effective_date(policy.published_at),
        "diff_path": diff_path(policy.version, previous.version if previous else ""),
        "version_path": reverse("privacy_policy_version", args=[policy.version]),
    }


def send_notices(
    policy_id: int, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None
) -> SendReport:
    """Mail the notices still to send, ``batch_size`` per SMTP connection; stop after
    ``max_batches`` batches (None: until none is left) or when the server cannot be reached.
    Each notice is tried at most once per run."""
    report = SendReport()
    policy = PolicyVersion.objects.filter(pk=policy_id).first()
    if policy is None:
        return report
    context = notice_context(policy)
    after = 0
    while max_batches is None or report.batches < max_batches:
        batch = list(sendable().filter(policy=policy, pk__gt=after)[:batch_size])
        if not batch:
            break
        report.batches += 1
        after = batch[-1].pk
        if not _send_batch(batch, context, report):
            break
    log.info("policy.notices_sent", policy=policy.version, sent=report.sent, failed=report.failed)
    return report


def resume_notices() -> int:
    """Go on with every mailing that has notices left to send (a worker died, or the server
    was down): the hourly task's part; how many were sent."""
    pending = sendable().filter(policy__notice_started_at__isnull=False)
    policy_ids = pending.order_by("policy_id").values_list("policy_id", flat=True).distinct()
    return sum(send_notices(policy_id).sent for policy_id in list(policy_ids))


def stranded(
    policy: PolicyVersion, older_than: timedelta = STRANDED_AFTER
) -> QuerySet[PolicyNotice]:
    """Notices a run claimed and never marked (its worker died between the two): each may
    or may not have been mailed, so they wait for staff instead of being sent again."""
    return PolicyNotice.objects.filter(
        policy=policy,
        state__in=(NoticeState.QUEUED, NoticeState.FAILED),
        claimed_at__lt=timezone.now() - older_than,
    ).exclude(message_id="")


def release_stranded(policy: PolicyVersion) -> int:
    """Staff decided: send the stranded notices again (a user may get the notice twice)."""
    from mailpanel.privacy.policy_tasks import send_policy_notices_task

    released = stranded(policy).update(message_id="", claimed_at=None)
    if released:
        transaction.on_commit(lambda: send_policy_notices_task(policy.pk))
    log.info("policy notices released", policy=policy.version, released=released)
    return released


SMTP_FAILURES = (smtplib.SMTPException, OSError, ValueError)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _send_batch(batch: list[PolicyNotice], context: dict[str, Any], report: SendReport) -> bool:
    """Send one batch over one connection; False when the server could not be reached."""
    connection = open_connection()
    try:
        connection.open()
    except SMTP_FAILURES as exc:
        error = _error_text(exc)
        report.failed += PolicyNotice.objects.filter(
            pk__in=[n.pk for n in batch], message_id=""
        ).update(state=NoticeState.FAILED, attempts=F("attempts") + 1, error=error)
        report.errors.append(error)
        return False
    subject = f"Our privacy policy changes on {context['effective_date']}"
    try:
        for notice in batch:
            message_id = _claim(notice)
            if message_id is None:
                continue  # another run took it
            try:
                send_templated(
                    [notice.user.email],
                    subject,
                    NOTICE_TEMPLATE,
                    {**context, "user": notice.user},
                    automatic=True,
                    list_id=LIST_ID,
                    message_id=message_id,
                    bounce_tag=policy_tag(notice),
                    connection=connection,
                )
            except SMTP_FAILURES as exc:
                if refused := permanent_refusal(exc):
                    _mark(notice, message_id, bounced=refused)
                    report.bounced += 1
                    continue
                _mark(notice, message_id, failed=_error_text(exc))
                report.failed += 1
                report.errors.append(_error_text(exc))
                connection.close()  # the next message opens a fresh one
            else:
                _mark(notice, message_id)
                report.sent += 1
    finally:
        connection.close()
    return True


def _claim(notice: PolicyNotice) -> str | None:
    message_id = new_message_id()
    won = PolicyNotice.objects.filter(
        pk=notice.pk, message_id="", state=notice.state, attempts=notice.attempts
    ).update(message_id=message_id, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    return message_id if won else None


def _mark(notice: PolicyNotice, message_id: str, failed: str = "", bounced: str = "") -> None:
    claimed = PolicyNotice.objects.filter(pk=notice.pk, message_id=message_id)
    if bounced:
        claimed.update(state=NoticeState.BOUNCED, error=bounced, bounced_at=timezone.now())
    elif failed:
        claimed.update(state=NoticeState.FAILED, error=failed, message_id="")
    else:
        claimed.update(state=NoticeState.SENT, sent_at=timezone.now(), error="")


# --- acknowledgement and acceptance ---------------------------------------------


def acknowledge(user: User, policy: PolicyVersion) -> bool:
    """The user has read the change: their notice is acknowledged (and the notices of older
    versions it supersedes); in force already, it is accepted now, else at its effective
    date (``record_due_acceptances``). False when the user had no notice of it."""
    now = timezone.now()
    with transaction.atomic():
        acknowledged = PolicyNotice.objects.filter(
            user=user, policy=policy, acknowledged_at__isnull=True
        ).update(acknowledged_at=now, seen_at=Coalesce("seen_at", now))
        PolicyNotice.objects.filter(
            user=user, acknowledged_at__isnull=True, policy__published_at__lt=policy.published_at
        ).update(acknowledged_at=now)
        if acknowledged and is_effective(policy, now):
            PolicyAcceptance.objects.get_or_create(user=user, policy=policy)
        notices_changed(user.pk)
    return bool(acknowledged)


def record_due_acceptances(now: datetime | None = None) -> int:
    """Acceptances of versions acknowledged during their notice period, once they are in
    force, dated from the effective date; how many were recorded."""
    now = now or timezone.now()
    accepted = PolicyAcceptance.objects.filter(user=OuterRef("user"), policy=OuterRef("policy"))
    due = (
        PolicyNotice.objects.filter(acknowledged_at__isnull=False, policy__published_at__lte=now)
        .exclude(Exists(accepted))
        .values_list("user_id", "policy_id", "policy__published_at", "acknowledged_at")
    )
    rows = [
        PolicyAcceptance(user_id=user_id, policy_id=policy_id, accepted_at=max(starts, acked))
        for user_id, policy_id, starts, acked in due
        if acked is not None  # filtered above; for the type checker
    ]
    PolicyAcceptance.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def record_shown(notice_pk: int, *, continued_use: bool) -> None:
    """The banner was shown: seen_at the first time; with ``continued_use`` (shown after the
    effective date) continued_use_at the first time too. The policy counts continued use as
    acceptance: it is recorded, nothing more. Coalesce keeps the first moment."""
    now = Value(timezone.now())
    changes = {"seen_at": Coalesce("seen_at", now)}
    if continued_use:
        changes["continued_use_at"] = Coalesce("continued_use_at", now)
    PolicyNotice.objects.filter(pk=notice_pk).update(**changes)


# --- when a banner must be looked up again ------------------------------------------------

CHANGED_KEY = "privacy:policy-notices-changed"


def notices_changed(user_id: int | None = None) -> None:
    """Tell the banners that notices changed (everyone's, or one user's), once committed:
    sessions that looked before look again."""
    key = CHANGED_KEY if user_id is None else f"{CHANGED_KEY}:{user_id}"
    transaction.on_commit(lambda: cache.set(key, time.time(), None))


def notices_changed_at(user_id: int) -> float:
    """When notices last changed for this user (0: not since this cache started)."""
    stamps = cache.get_many([CHANGED_KEY, f"{CHANGED_KEY}:{user_id}"])
    return max((float(v) for v in stamps.values()), default=0.0)
