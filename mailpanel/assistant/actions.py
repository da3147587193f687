"""What the assistant does, one function per user action; views and the stream call these.

All functions here are synchronous (ORM in transactions); the async stream view calls
them through ``sync_to_async``, one hop per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.assistant import conf, llm, prompts
from mailpanel.assistant.failures import LlmError
from mailpanel.assistant.lint import Email, lint_email, lint_line, lint_subject
from mailpanel.assistant.llm import Usage
from mailpanel.assistant.models import (
    AssistantProfile,
    AssistantUsage,
    Draft,
    DraftKind,
    DraftState,
)
from mailpanel.assistant.parse import parse_reply, text_to_html
from mailpanel.assistant.sanitize import clean_html
from mailpanel.ownership import get_owned_or_404
from mailpanel.vault.access import open_for_owner
from mailpanel.vault.models import Credential

STOPPED_NOTE = "Stopped before the end (Stop was pressed or the page was left)."
INTERRUPTED_NOTE = "Interrupted: the answer stopped arriving. The text so far is kept."
CHECKPOINT_SECONDS = 2.0
STALE_GRACE_SECONDS = 60


class ModelChoiceNeeded(Exception):
    """The configured model is not offered: the user picks one of ``offered``."""

    def __init__(self, wanted: str, offered: list[str]) -> None:
        super().__init__(wanted)
        self.wanted = wanted
        self.offered = offered


def nvidia_credentials(user: User) -> QuerySet[Credential]:
    return Credential.objects.filter(owner=user, kind="nvidia").defer("secret")


def deepseek_models(model_ids: list[str]) -> list[str]:
    return sorted(m for m in model_ids if "deepseek" in m.lower())


def check_and_save_settings(
    user: User, credential: Credential, picked_model: str = ""
) -> AssistantProfile:
    """Check the key against NVIDIA and remember it with a model it offers.

    Raises LlmError (the key or NVIDIA failed) or ModelChoiceNeeded.
    """
    key = open_for_owner(credential, user, "checking the assistant settings")["api_key"]
    offered = async_to_sync(llm.list_models)(key)
    model = _settle_model(offered, picked_model)
    usage = async_to_sync(llm.probe)(key, model)
    record_usage(user.pk, usage, estimated=False)
    with transaction.atomic():
        profile, _ = AssistantProfile.objects.update_or_create(
            owner=user,
            defaults={"credential": credential, "model_id": model, "checked_at": timezone.now()},
        )
        record_event(user, "assistant.settings_saved", profile, actor=user, message=model)
    return profile


def _settle_model(offered: list[str], picked: str) -> str:
    wanted = conf.default_model()
    choices = deepseek_models(offered)
    if picked and (picked in choices or (picked == wanted and picked in offered)):
        return picked
    if not picked and wanted in offered:
        return wanted
    if not choices:
        raise LlmError(
            "no_model",
            f"NVIDIA offers neither “{wanted}” nor any other DeepSeek model right now. "
            "Try again later.",
        )
    raise ModelChoiceNeeded(wanted, choices)


def record_usage(owner_id: Any, usage: Usage | None, *, estimated: bool, requests: int = 1) -> None:
    AssistantUsage.objects.get_or_create(owner_id=owner_id)
    AssistantUsage.objects.filter(owner_id=owner_id).update(
        requests=F("requests") + requests,
        prompt_tokens=F("prompt_tokens") + (usage.prompt_tokens if usage else 0),
        completion_tokens=F("completion_tokens") + (usage.completion_tokens if usage else 0),
        estimated_requests=F("estimated_requests") + (1 if estimated else 0),
    )


def usage_of(user: User) -> AssistantUsage | None:
    return AssistantUsage.objects.filter(owner=user).first()


def profile_of(user: User) -> AssistantProfile | None:
    try:
        return AssistantProfile.objects.select_related("credential").get(owner=user)
    except AssistantProfile.DoesNotExist:
        return None


# --- drafts -------------------------------------------------------------------


def start_draft(user: User, kind: str, inputs: dict[str, Any]) -> Draft:
    """A draft waiting for its answer; the draft page opens the stream that writes it."""
    return Draft.objects.create(owner=user, kind=kind, state=DraftState.PENDING, inputs=inputs)


def retry_draft(draft: Draft) -> Draft:
    """Ask again with the same brief; a failed draft holds nothing else, so it goes."""
    fresh = start_draft(draft.owner, draft.kind, dict(draft.inputs))
    if draft.state == DraftState.FAILED and not draft.text:
        draft.delete()
    return fresh


def save_pasted(user: User, subject: str, preheader: str, text: str, html: str) -> Draft:
    draft = Draft(owner=user, kind=DraftKind.PASTED, state=DraftState.COMPLETE, complete=True)
    draft.inputs = {"source": "pasted"}
    _fill(draft, subject, preheader, text, html)
    draft.save()
    return draft


def edit_draft(draft: Draft, subject: str, preheader: str, text: str, html: str) -> Draft:
    _fill(draft, subject, preheader, text, html)
    if draft.state == DraftState.STREAMING:
        # Saving while the stream still runs ends it: the user's copy wins.
        draft.state, draft.note = DraftState.INCOMPLETE, STOPPED_NOTE
    draft.save()
    return draft


def choose_variant(draft: Draft, line: str) -> Draft:
    """Make one of a subjects (or preheaders) draft's lines the one it exports with."""
    if draft.kind == DraftKind.PREHEADERS:
        draft.preheader = line[:300]
    else:
        draft.subject = line[:300]
    draft.lint = lint_draft(draft)
    draft.save(update_fields=["subject", "preheader", "lint", "updated_at"])
    return draft


def delete_draft(draft: Draft) -> None:
    draft.delete()


def _fill(draft: Draft, subject: str, preheader: str, text: str, html: str) -> None:
    draft.subject, draft.preheader, draft.text = subject.strip(), preheader.strip(), text
    draft.html = clean_html(html) if html.strip() else text_to_html(text)
    draft.lint = lint_draft(draft)


def lint_draft(draft: Draft) -> dict[str, Any]:
    if draft.kind == DraftKind.SUBJECTS:
        return lint_subject(draft.subject).as_dict()
    if draft.kind == DraftKind.PREHEADERS:
        return lint_line(draft.preheader).as_dict()
    email = Email(draft.subject, draft.preheader, draft.text, draft.html)
    return lint_email(email).as_dict()


def search_drafts(user: User, query: str) -> QuerySet[Draft]:
    drafts = Draft.objects.filter(owner=user)
    if query:
        drafts = drafts.filter(Q(subject__icontains=query) | Q(text__icontains=query))
    return drafts.only("id", "kind", "state", "subject", "complete", "lint", "created_at")


# --- the stream's steps -------------------------------------------------------


@dataclass
class StreamPlan:
    draft_id: UUID
    kind: str
    model: str
    messages: list[prompts.Message]
    api_key: str = field(repr=False)  # never printed, logged or rendered

    @property
    def max_tokens(self) -> int:
        return prompts.max_tokens(self.kind)


@dataclass
class Refused:
    """The draft was claimed but cannot be answered (no key chosen); it is marked failed."""

    draft: Draft
    error: LlmError


def begin_stream(draft_id: UUID, user: User) -> StreamPlan | Refused | Draft:
    """Claim the user's pending draft for this stream and open the key; else the draft as is.

    Raises Http404 for another user's draft. The claim is one conditional UPDATE, so a
    reconnecting EventSource or a second tab never starts a second (paid) answer.
    """
    draft = settle_if_stale(get_owned_or_404(Draft, user, pk=draft_id))
    if draft.state != DraftState.PENDING:
        return draft
    profile = profile_of(user)
    with transaction.atomic():
        claimed = Draft.objects.filter(pk=draft.pk, state=DraftState.PENDING).update(
            state=DraftState.STREAMING,
            model_id=profile.model_id if profile else "",
            updated_at=timezone.now(),
        )
        if not claimed:  # another request took it a moment ago
            draft.refresh_from_db()
            return draft
        if profile is None:
            return _refuse(draft.pk, "Choose your NVIDIA key in the assistant settings first.")
        key = open_for_owner(profile.credential, user, f"assistant draft {draft.pk}")["api_key"]
    messages = prompts.build_messages(draft.kind, draft.inputs)
    return StreamPlan(draft.pk, draft.kind, profile.model_id, messages, key)


def _refuse(draft_id: UUID, message: str) -> Refused:
    error = LlmError("no_settings", message, fix="settings")
    return Refused(fail_stream(draft_id, "", None, [], error), error)


def settle_if_stale(draft: Draft) -> Draft:
    """A draft left "being written" by a stream that died (a crash, a dropped request)."""
    limit = timezone.now() - timedelta(seconds=conf.answer_timeout() + STALE_GRACE_SECONDS)
    if draft.state == DraftState.STREAMING and draft.updated_at < limit:
        Draft.objects.filter(pk=draft.pk, state=DraftState.STREAMING).update(
            state=DraftState.INCOMPLETE, note=INTERRUPTED_NOTE
        )
        draft.refresh_from_db()
    return draft


def checkpoint(draft_id: UUID, reply: str) -> None:
    """Keep the text so far, so a crash or a dropped connection loses at most a moment."""
    Draft.objects.filter(pk=draft_id, state=DraftState.STREAMING).update(
        text=reply, updated_at=timezone.now()
    )


def finish_stream(
    draft_id: UUID,
    reply: str,
    usage: Usage | None,
    messages: list[prompts.Message],
    *,
    complete: bool,
    note: str = "",
) -> Draft:
    """Store the answer (whole or partial), lint it and count its usage, exactly once."""
    draft = Draft.objects.get(pk=draft_id)
    parsed = parse_reply(draft.kind, reply)
    estimated = usage is None
    if usage is None:
        usage = Usage(prompts.estimate_prompt_tokens(messages), prompts.estimate_tokens(reply))
    draft.subject, draft.preheader = parsed.subject, parsed.preheader
    draft.text, draft.html = parsed.text, parsed.html
    with transaction.atomic():
        updated = Draft.objects.filter(pk=draft_id, state=DraftState.STREAMING).update(
            state=DraftState.COMPLETE if complete else DraftState.INCOMPLETE,
            complete=complete,
            note=note[:300],
            subject=parsed.subject,
            preheader=parsed.preheader,
            text=parsed.text,
            html=parsed.html,
            lint=lint_draft(draft),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_estimated=estimated,
            updated_at=timezone.now(),
        )
        if updated:
            record_usage(draft.owner_id, usage, estimated=estimated)
    return Draft.objects.get(pk=draft_id)


def fail_stream(
    draft_id: UUID,
    reply: str,
    usage: Usage | None,
    messages: list[prompts.Message],
    error: LlmError,
) -> Draft:
    """An error: keep any partial text as an incomplete draft, else mark the draft failed."""
    if reply.strip():
        return finish_stream(draft_id, reply, usage, messages, complete=False, note=error.message)
    with transaction.atomic():
        updated = Draft.objects.filter(pk=draft_id, state=DraftState.STREAMING).update(
            state=DraftState.FAILED, note=error.message[:300], updated_at=timezone.now()
        )
        if updated and messages:
            record_usage(Draft.objects.get(pk=draft_id).owner_id, None, estimated=False)
    return Draft.objects.get(pk=draft_id)


def stop_stream(draft: Draft, reply: str) -> Draft:
    """The user pressed Stop: keep the text their page shows, unless the stream already did."""
    if draft.state != DraftState.STREAMING:
        return draft
    messages = prompts.build_messages(draft.kind, draft.inputs)
    return finish_stream(draft.pk, reply, None, messages, complete=False, note=STOPPED_NOTE)


class Checkpoints:
    """When to write the partial text again (every CHECKPOINT_SECONDS)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < CHECKPOINT_SECONDS:
            return False
        self.last = now
        return True
