"""Answers stream from the fake NVIDIA endpoint through the panel's async view."""

from __future__ import annotations

import html
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from lab.llm import FakeLLM
from lab.samples import BRIEF
from mailpanel.accounts.models import User
from mailpanel.assistant.models import AssistantUsage, Draft, DraftState
from tests.assistant.conftest import (
    BROKE_KEY,
    KEY,
    MODEL,
    RETIRED,
    UNKNOWN_KEY,
    chat_requests,
    choose,
    parse_events,
)
from tests.helpers import streamed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("async_cleanup")]


async def chosen(user: User, key: str = KEY, model: str = MODEL) -> None:
    """The user has stored an NVIDIA key and chosen it, with this model."""
    await sync_to_async(choose)(user, key, model)


async def signed_in(user: User) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def write(client: AsyncClient, **brief: str) -> Draft:
    """Submit a brief the way the form does; the panel answers with the draft's page."""
    response = await client.post(reverse("assistant"), {**BRIEF, **brief})
    assert response.status_code == 302, response.content.decode()[:2000]
    draft_id = response["Location"].rstrip("/").split("/")[-1]
    return await Draft.objects.aget(pk=draft_id)


async def stream(client: AsyncClient, draft: Draft) -> str:
    response = await client.get(reverse("assistant_draft_stream", args=[draft.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    return b"".join([chunk async for chunk in streamed(response)]).decode()


async def test_tokens_stream_then_the_draft_is_saved_complete_with_nvidias_usage(
    user: User, fake_llm: FakeLLM
) -> None:
    await chosen(user)
    client = await signed_in(user)
    draft = await write(client)
    assert draft.state == DraftState.PENDING

    events = parse_events(await stream(client, draft))

    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"token"} and len(names) > 10
    text = "".join(data["t"] for name, data in events if name == "token")
    assert text.startswith("Introducing spring gardening tools")
    draft = await Draft.objects.aget(pk=draft.pk)
    assert draft.state == DraftState.COMPLETE and draft.complete
    assert draft.text == text
    assert draft.subject == "Introducing spring gardening tools until: mail that simply arrives."
    assert draft.html.startswith("<p>Introducing spring gardening tools")
    assert events[-1][1] == {"url": f"/assistant/drafts/{draft.pk}/", "score": draft.lint["score"]}
    # NVIDIA's own figures (stream_options.include_usage), not an estimate.
    assert draft.completion_tokens == len(events) - 1
    assert draft.prompt_tokens > 50 and not draft.usage_estimated
    usage = await AssistantUsage.objects.aget(owner=user)
    assert (usage.requests, usage.completion_tokens) == (1, draft.completion_tokens)
    request = chat_requests(fake_llm)[0]["json"]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["model"] == "deepseek-ai/deepseek-v3-0324"


async def test_tokens_reach_the_reader_while_the_answer_is_still_being_written(
    user: User, fake_llm: FakeLLM
) -> None:
    fake_llm.state.pace_ms = 40
    await chosen(user)
    client = await signed_in(user)
    draft = await write(client)
    response = await client.get(reverse("assistant_draft_stream", args=[draft.pk]))

    arrivals = []
    async for chunk in streamed(response):
        if b"event: token" in chunk:
            arrivals.append(time.monotonic())

    assert len(arrivals) > 20
    # Paced 40 ms apart at the source, so they arrive spread out, not in one block.
    assert arrivals[-1] - arrivals[0] > 0.04 * (len(arrivals) - 1) * 0.8


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"key": UNKNOWN_KEY}, "NVIDIA rejected your API key"),
        ({"key": BROKE_KEY}, "Your NVIDIA account has run out of credits"),
        ({"model": RETIRED}, f"NVIDIA has retired the model “{RETIRED}”. Pick another model"),
        ({"model": "acme/unknown"}, "NVIDIA does not offer the model “acme/unknown”"),
        ({"mode": ("rate_limit", {"retry_after": 7})}, "Try again in 7 seconds"),
        ({"mode": ("degraded", {})}, "the model is degraded"),
        ({"mode": ("server_error", {"error_status": 503})}, "NVIDIA's service failed (error 503)"),
        ({"mode": ("server_error", {"error_status": 500})}, "NVIDIA's service failed (error 500)"),
        (
            {"mode": ("slow_first_token", {"first_token_delay": 3}), "first_token_timeout": 0.4},
            "NVIDIA did not start answering within 0.4 seconds",
        ),
    ],
)
async def test_each_failure_is_told_in_the_users_words_and_the_draft_says_so(
    user: User, fake_llm: FakeLLM, settings: Any, setup: dict[str, Any], expected: str
) -> None:
    await chosen(user, setup.get("key", KEY), setup.get("model", MODEL))
    if "mode" in setup:
        fake_llm.set_mode(setup["mode"][0], **setup["mode"][1])
    if "first_token_timeout" in setup:
        settings.NVIDIA_FIRST_TOKEN_TIMEOUT_SECONDS = setup["first_token_timeout"]
    client = await signed_in(user)
    draft = await write(client)

    body = await stream(client, draft)

    (name, data), *_ = parse_events(body)
    assert name == "failure"
    assert expected in data["message"]
    assert data["partial"] is False and data["url"] == f"/assistant/drafts/{draft.pk}/"
    draft = await Draft.objects.aget(pk=draft.pk)
    assert draft.state == DraftState.FAILED and not draft.complete
    assert expected in draft.note
    page = (await client.get(reverse("assistant_draft", args=[draft.pk]))).content.decode()
    assert expected.split("“")[0] in html.unescape(page)
    for secret in (KEY, UNKNOWN_KEY, BROKE_KEY):
        assert secret not in body and secret not in page


async def test_rate_limit_says_when_to_try_again_and_offers_a_retry(
    user: User, fake_llm: FakeLLM
) -> None:
    await chosen(user)
    fake_llm.set_mode("rate_limit", retry_after=120)
    client = await signed_in(user)
    draft = await write(client)

    (_, data), *_ = parse_events(await stream(client, draft))

    assert data["code"] == "rate_limited" and data["retry_after"] == 120
    assert "Try again in 2 minutes" in data["message"]
    fake_llm.set_mode("normal")
    response = await client.post(reverse("assistant_draft_retry", args=[draft.pk]))
    fresh = await Draft.objects.aget(pk=response["Location"].rstrip("/").split("/")[-1])
    assert fresh.inputs == draft.inputs and fresh.state == DraftState.PENDING
    assert not await Draft.objects.filter(pk=draft.pk).aexists()  # the empty failure goes
    assert parse_events(await stream(client, fresh))[-1][0] == "done"


async def test_a_stream_cut_in_the_middle_keeps_the_partial_text_as_an_incomplete_draft(
    user: User, fake_llm: FakeLLM
) -> None:
    await chosen(user)
    fake_llm.set_mode("cut_stream", cut_after=5)
    client = await signed_in(user)
    draft = await write(client)

    events = parse_events(await stream(client, draft))

    tokens = [data["t"] for name, data in events if name == "token"]
    assert len(tokens) == 5
    name, data = events[-1]
    assert name == "failure" and data["partial"] is True and data["code"] == "cut"
    assert "broke off in the middle" in data["message"]
    draft = await Draft.objects.aget(pk=draft.pk)
    assert draft.state == DraftState.INCOMPLETE and draft.complete is False
    assert draft.text == "".join(tokens)
    assert "broke off" in draft.note
    # No usage arrived with a cut stream: the counts are estimated, and marked so.
    assert draft.usage_estimated and draft.completion_tokens > 0
    usage = await AssistantUsage.objects.aget(owner=user)
    assert usage.requests == 1 and usage.estimated_requests == 1
    page = (await client.get(reverse("assistant_draft", args=[draft.pk]))).content.decode()
    assert "Incomplete" in page and "(estimated)" in page


async def test_an_answer_slower_than_the_answer_timeout_is_stopped_and_kept(
    user: User, fake_llm: FakeLLM, settings: Any
) -> None:
    await chosen(user)
    fake_llm.state.pace_ms = 100
    settings.NVIDIA_TIMEOUT_SECONDS = 0.5
    client = await signed_in(user)
    draft = await write(client)

    events = parse_events(await stream(client, draft))

    name, data = events[-1]
    assert name == "failure" and data["code"] == "answer_timeout" and data["partial"]
    assert "took longer than 0.5 seconds" in data["message"]
    draft = await Draft.objects.aget(pk=draft.pk)
    assert draft.state == DraftState.INCOMPLETE and 2 <= len(events) - 1 <= 7


async def test_opening_the_stream_again_never_asks_nvidia_twice(
    user: User, fake_llm: FakeLLM
) -> None:
    await chosen(user)
    client = await signed_in(user)
    draft = await write(client)
    await stream(client, draft)

    again = parse_events(await stream(client, draft))

    assert again == [
        ("end", {"state": "complete", "url": f"/assistant/drafts/{draft.pk}/", "note": ""})
    ]
    assert len(chat_requests(fake_llm)) == 1


async def test_without_settings_the_stream_says_to_choose_a_key(
    user: User, fake_llm: FakeLLM
) -> None:
    draft = await Draft.objects.acreate(owner=user, kind="email", state="pending", inputs={})
    client = await signed_in(user)

    (name, data), *_ = parse_events(await stream(client, draft))

    assert name == "failure" and "Choose your NVIDIA key" in data["message"]
    assert chat_requests(fake_llm) == []
