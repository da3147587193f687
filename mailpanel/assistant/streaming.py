"""The answer as server-sent events: tokens as NVIDIA sends them, then the saved draft.

Events: ``token`` {"t"}; ``done`` {"url", "score"}; ``failure`` {"message", "code",
"retry_after", "partial", "url"}; ``end`` {"state", "url"} when the draft was not
waiting for an answer (a reconnect, a second tab).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing

import structlog
from asgiref.sync import sync_to_async
from django.urls import reverse

from mailpanel.assistant import actions, llm
from mailpanel.assistant.failures import LlmError
from mailpanel.assistant.models import Draft

log = structlog.get_logger(__name__)


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _url(draft: Draft) -> str:
    return reverse("assistant_draft", args=[draft.pk])


async def draft_events(began: actions.StreamPlan | actions.Refused | Draft) -> AsyncIterator[str]:
    """The events of one answer; ``began`` is what ``actions.begin_stream`` returned."""
    if isinstance(began, Draft):
        yield _ended(began)
        return
    if isinstance(began, actions.Refused):
        yield sse("failure", {**began.error.as_dict(), "partial": False, "url": _url(began.draft)})
        return
    plan, parts = began, []
    usage: llm.Usage | None = None
    saved = False
    checkpoints = actions.Checkpoints()
    answer = llm.stream_chat(plan.api_key, plan.model, plan.messages, max_tokens=plan.max_tokens)
    try:
        # aclosing: when the reader leaves while we wait at a yield, the upstream
        # connection is closed now, not whenever the generator is collected.
        async with aclosing(answer) as pieces:
            async for piece in pieces:
                if isinstance(piece, llm.Usage):
                    usage = piece
                    continue
                parts.append(piece.text)
                yield sse("token", {"t": piece.text})
                if checkpoints.due():
                    await sync_to_async(actions.checkpoint)(plan.draft_id, "".join(parts))
        finished = await sync_to_async(actions.finish_stream)(
            plan.draft_id, "".join(parts), usage, plan.messages, complete=True
        )
        saved = True
        yield sse("done", {"url": _url(finished), "score": finished.score})
    except LlmError as error:
        log.info("assistant.llm_error", code=error.code, status=error.status, detail=error.detail)
        failed = await sync_to_async(actions.fail_stream)(
            plan.draft_id, "".join(parts), usage, plan.messages, error
        )
        saved = True
        yield sse("failure", {**error.as_dict(), "partial": bool(parts), "url": _url(failed)})
    finally:
        if not saved:
            # The reader went away (Stop, a closed tab): keep what was written. Shielded,
            # because this runs while the request is being cancelled.
            await asyncio.shield(_save_stopped(plan, "".join(parts), usage))


async def _save_stopped(plan: actions.StreamPlan, reply: str, usage: llm.Usage | None) -> None:
    await sync_to_async(actions.finish_stream)(
        plan.draft_id, reply, usage, plan.messages, complete=False, note=actions.STOPPED_NOTE
    )


def _ended(draft: Draft) -> str:
    data = {"state": draft.state, "url": _url(draft), "note": draft.note}
    if draft.state in ("pending", "streaming"):
        data["message"] = "This draft is being written in another window."
    return sse("end", data)
