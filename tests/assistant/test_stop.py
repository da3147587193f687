"""Stop: the reader goes away mid-answer (a real uvicorn server), the partial text stays."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from django.urls import reverse

from lab.llm import FakeLLM
from lab.samples import BRIEF
from mailpanel.accounts.models import User
from mailpanel.assistant import actions
from mailpanel.assistant.models import AssistantUsage, Draft, DraftState
from tests.assistant.conftest import LivePanel, chat_requests, choose

pytestmark = pytest.mark.django_db(transaction=True)


def pending_draft(user: User) -> Draft:
    inputs = {k: v for k, v in BRIEF.items() if k != "kind"}
    return actions.start_draft(user, "email", inputs)


def wait_for(draft: Draft, state: str, timeout: float = 10) -> Draft:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        draft.refresh_from_db()
        if draft.state == state:
            return draft
        time.sleep(0.05)
    raise AssertionError(f"draft stayed {draft.state}, expected {state}")


def read_tokens(lines: Iterator[str], count: int) -> str:
    text, seen = "", 0
    for line in lines:
        if line.startswith("data: ") and '"t"' in line:
            token: str = httpx.Response(200, content=line[6:]).json()["t"]
            text += token
            seen += 1
            if seen == count:
                return text
    raise AssertionError("the stream ended early")


def test_closing_the_stream_keeps_the_text_so_far_as_an_incomplete_draft(
    user: User, fake_llm: FakeLLM, live_panel: LivePanel
) -> None:
    fake_llm.state.pace_ms = 60
    choose(user)
    draft = pending_draft(user)
    url = live_panel.url + reverse("assistant_draft_stream", args=[draft.pk])

    with (
        httpx.Client(cookies=live_panel.login_cookie(user), timeout=10) as client,
        client.stream("GET", url) as response,
    ):
        shown = read_tokens(response.iter_lines(), 4)
    # Leaving the with-block closed the connection, as a browser's Stop does.

    draft = wait_for(draft, DraftState.INCOMPLETE)
    assert draft.text.startswith(shown) and len(draft.text) < 120
    assert draft.note == actions.STOPPED_NOTE and not draft.complete
    assert draft.usage_estimated
    assert AssistantUsage.objects.get(owner=user).requests == 1
    assert len(chat_requests(fake_llm)) == 1


def test_save_after_stop_keeps_the_text_the_page_showed_even_while_nvidia_still_sends(
    user: User, fake_llm: FakeLLM, live_panel: LivePanel
) -> None:
    fake_llm.state.pace_ms = 30
    choose(user)
    draft = pending_draft(user)
    cookies = live_panel.login_cookie(user)
    stream_url = live_panel.url + reverse("assistant_draft_stream", args=[draft.pk])

    with httpx.Client(cookies=cookies, timeout=10) as client:
        page = client.get(live_panel.url + reverse("assistant_draft", args=[draft.pk]))
        token = client.cookies["csrftoken"]
        assert page.status_code == 200
        with client.stream("GET", stream_url) as response:
            lines = response.iter_lines()
            shown = read_tokens(lines, 3)
            saved = client.post(
                live_panel.url + reverse("assistant_draft_stop", args=[draft.pk]),
                data={"text": shown, "csrfmiddlewaretoken": token},
                headers={"Referer": live_panel.url + "/"},
            )
            assert saved.status_code == 302
            rest = "".join(lines)  # the stream runs on to its end

    assert '"url"' in rest  # it ended normally
    draft.refresh_from_db()
    # The user's Save came first; the stream's own ending did not overwrite it.
    assert draft.state == DraftState.INCOMPLETE and draft.text == shown
    assert draft.note == actions.STOPPED_NOTE
    assert AssistantUsage.objects.get(owner=user).requests == 1
