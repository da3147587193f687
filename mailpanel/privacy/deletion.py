"""Deleting an account: secrets shredded at once, every row removed after, mail to the old address.

``request_deletion`` is the irreversible moment: in one transaction it destroys the user's
data key (no ciphertext of theirs, wherever it was copied, opens with any master key without
that key), removes their two-factor secrets and sessions, and marks the account, which from
then on cannot sign in. A database backup made before holds the data key wrapped by the
master key of its day: it stays openable until that master key is rotated out and retired.

The rows are removed afterwards by a task in batches, each batch its own transaction: a
worker killed halfway leaves an account that is already unusable, and the next run (the task
again, or the nightly purge) finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from graphlib import TopologicalSorter
from typing import Any

import structlog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.billing.checkout import cancel_for_deletion
from mailpanel.billing.client import ProcessorError
from mailpanel.mail import send_templated
from mailpanel.privacy.registry import Holding, fk_targets, holdings
from mailpanel.privacy.retention import Budget, delete_in_batches

log = structlog.get_logger(__name__)

USER_MODEL = "accounts.User"


@dataclass(frozen=True)
class LeftInPlace:
    """What deletion does not touch, for the user to clean up if they wish."""

    servers: list[tuple[str, str]]  # (name, host): they keep running as provisioned
    zones: list[tuple[str, str]]  # (zone, provider): records stay published


def left_in_place(user: User) -> LeftInPlace:
    from mailpanel.dns.models import DomainZone
    from mailpanel.servers.models import Server

    servers = list(Server.objects.filter(owner=user).values_list("name", "host"))
    zones = list(
        DomainZone.objects.filter(owner=user, published__isnull=False)
        .exclude(published={})
        .values_list("zone_name", "account__provider")
        .distinct()
    )
    return LeftInPlace(servers=servers, zones=zones)


class DeletionDeferred(Exception):
    """The deletion cannot start yet (nothing was changed); the text says why."""


def request_deletion(user: User, actor: User | None = None) -> None:
    """Cancel a subscription at the payment processor; then shred, sign out, mark, and
    queue the removal of every row. Safe to call twice.

    The subscription goes first, so a deleted account is never charged again; when the
    processor cannot be reached, DeletionDeferred and nothing is changed.
    """
    from mailpanel.privacy.tasks import delete_account_task
    from mailpanel.vault.datakeys import shred_data_key

    try:
        cancel_for_deletion(user)
    except ProcessorError as exc:
        raise DeletionDeferred(
            "Your subscription must be canceled at the payment processor first, so you are "
            f"not charged again, and it could not be: {exc}"
        ) from exc
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        first = locked.deletion_requested_at is None
        shred_data_key(locked)
        _remove_sign_in(locked)
        if first:
            locked.deletion_requested_at = timezone.now()
            locked.is_active = False
            locked.set_unusable_password()
            locked.save(update_fields=["deletion_requested_at", "is_active", "password"])
            log.info("account deletion requested", user_id=locked.pk, by_staff=actor is not None)
        transaction.on_commit(lambda: delete_account_task(locked.pk))


def _remove_sign_in(user: User) -> None:
    """Every way back in goes at once: sessions, two-factor secrets, open email keys."""
    from allauth.account.models import EmailConfirmation
    from allauth.mfa.models import Authenticator
    from allauth.usersessions.models import UserSession

    keys = UserSession.objects.filter(user=user).values_list("session_key", flat=True)
    Session.objects.filter(session_key__in=list(keys)).delete()
    UserSession.objects.filter(user=user).delete()
    Authenticator.objects.filter(user=user).delete()
    EmailConfirmation.objects.filter(email_address__user=user).delete()


def deletion_order() -> list[Holding]:
    """Holdings ordered so a row is removed before any row it points at (PROTECT keys)."""
    by_model: dict[str, list[Holding]] = {}
    for holding in holdings():
        if holding.model != USER_MODEL and not holding.kept_after_deletion:
            by_model.setdefault(holding.model, []).append(holding)
    graph: dict[str, set[str]] = {}
    for label in by_model:
        model = by_model[label][0].model_class
        # TopologicalSorter yields a node after its predecessors: a model's predecessors
        # here are the models that point at it, so they are removed first.
        graph.setdefault(label, set())
        for target in fk_targets(model):
            if target in by_model and target != label:
                graph.setdefault(target, set()).add(label)
    return [h for label in TopologicalSorter(graph).static_order() for h in by_model[label]]


def remove_rows(user: User, budget: Budget, batch_size: int) -> int:
    """Remove the user's rows of every category, then the account. Resumable."""
    from mailpanel.privacy.exports import delete_files_of

    delete_files_of(user)  # export files are the user's data too
    # The mail they sent support: before the messages that lead to it are gone.
    delete_inbound_mail(_inbound_of(user), budget, batch_size)
    removed = 0
    for holding in deletion_order():
        removed += delete_in_batches(holding.rows_of(user), budget, batch_size)
    if budget.left is not None and budget.left <= 0:
        return removed  # cut short: the next run goes on from here
    address = user.email
    _send_confirmation(address)
    User.objects.filter(pk=user.pk).delete()  # what remains (data key, links) cascades
    log.info("account deleted", user_id=user.pk, rows=removed + 1)
    return removed + 1


def _inbound_of(user: User) -> QuerySet[Model]:
    from mailpanel.inbound.models import InboundMessage

    qs: QuerySet[Model] = InboundMessage.objects.filter(
        support_messages__thread__owner=user
    ).distinct()
    return qs


def delete_inbound_mail(qs: QuerySet[Model], budget: Budget, batch_size: int) -> int:
    """Received mail with its raw file and attachments, in batches."""
    from mailpanel.inbound.models import InboundMessage
    from mailpanel.inbound.store import delete_stored_files

    removed = 0
    while budget.take():
        batch = list(InboundMessage.objects.filter(pk__in=qs.values("pk"))[:batch_size])
        if not batch:
            break
        delete_stored_files(batch)
        InboundMessage.objects.filter(pk__in=[m.pk for m in batch]).delete()
        removed += len(batch)
    return removed


def _send_confirmation(address: str) -> None:
    try:
        send_templated([address], "Your account has been deleted", "mail/account_deleted", {})
    except OSError:
        # The rows go whatever the mail does: keeping data to retry a notice would be wrong.
        log.warning("deletion confirmation not sent", reason="mail server unreachable")


def finish_deletions(before: datetime, budget: Budget, batch_size: int) -> int:
    """Finish every deletion asked for before ``before`` (the nightly purge's safety net)."""
    removed = 0
    pending = User.objects.filter(deletion_requested_at__lte=before).order_by("pk")
    for user in pending:
        removed += remove_rows(user, budget, batch_size)
        if budget.left is not None and budget.left <= 0:
            break
    return removed


def delete_now(user: User, actor: User | None = None) -> int:
    """Delete an account at once, in this process (staff pages, and the task)."""
    request_deletion(user, actor)
    return run_deletion(user.pk)


def run_deletion(user_id: Any) -> int:
    user = User.objects.filter(pk=user_id, deletion_requested_at__isnull=False).first()
    if user is None:
        return 0  # already finished, or never asked
    return remove_rows(user, Budget(None), settings.PURGE_BATCH_SIZE)
