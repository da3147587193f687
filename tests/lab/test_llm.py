"""The fake NVIDIA endpoint, driven by the openai SDK and raw httpx over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lab.llm import DEFAULT_MODELS, FakeLLM

KEY = "nvapi-good-key"
BROKE = "nvapi-no-credits"
MODEL = "deepseek-ai/deepseek-v3-0324"
RETIRED = "meta/llama2-70b"
PROMPT = "Write a newsletter about spring gardening tools"


@pytest.fixture(scope="module")
def running_llm() -> Iterator[FakeLLM]:
    with FakeLLM(keys={KEY}, no_credit_keys={BROKE}, retired=[RETIRED]) as fake:
        yield fake


@pytest.fixture
def llm(running_llm: FakeLLM) -> FakeLLM:
    """The shared endpoint, back in normal mode with a fast pace and an empty log."""
    running_llm.set_mode("normal")
    running_llm.state.pace_ms = 10
    running_llm.requests.clear()
    return running_llm


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat_body(stream: bool = False, model: str = MODEL, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": PROMPT}]
    return {"model": model, "messages": messages, "stream": stream, **extra}


def post(llm: FakeLLM, body: dict[str, Any], key: str = KEY) -> httpx.Response:
    return httpx.post(f"{llm.base_url}/chat/completions", headers=auth(key), json=body)


def timed_events(llm: FakeLLM, body: dict[str, Any]) -> tuple[float, list[tuple[float, str]]]:
    """Start time and (arrival time, data) of each SSE event of one streamed request."""
    events: list[tuple[float, str]] = []
    began = time.monotonic()
    url = f"{llm.base_url}/chat/completions"
    with httpx.stream("POST", url, headers=auth(), json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append((time.monotonic(), line[len("data: ") :]))
    return began, events


def content_times(events: list[tuple[float, str]]) -> list[float]:
    times = []
    for at, data in events:
        if data != "[DONE]" and json.loads(data)["choices"][0]["delta"].get("content"):
            times.append(at)
    return times


def test_sdk_lists_the_default_models(llm: FakeLLM) -> None:
    client = openai.OpenAI(base_url=llm.base_url, api_key=KEY)
    models = client.models.list().data
    assert [m.id for m in models] == list(DEFAULT_MODELS)
    assert models[0].owned_by == "deepseek-ai"
    assert RETIRED not in [m.id for m in models]


def test_sdk_streams_a_reply_that_echoes_the_prompt(llm: FakeLLM) -> None:
    client = openai.OpenAI(base_url=llm.base_url, api_key=KEY)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "newsletter spring gardening tools" in text
    assert len(chunks) > 10  # it arrived in pieces, not as one block
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(chunks) - 2  # minus role and final chunk


def test_raw_stream_ends_with_done_and_no_usage_unless_asked(llm: FakeLLM) -> None:
    _, events = timed_events(llm, chat_body(stream=True))
    assert events[-1][1] == "[DONE]"
    final = json.loads(events[-2][1])
    assert final["object"] == "chat.completion.chunk"
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in final


def test_whole_completion_carries_usage(llm: FakeLLM) -> None:
    response = post(llm, chat_body())
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert "spring" in body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_cuts_the_reply_with_finish_reason_length(llm: FakeLLM) -> None:
    body = post(llm, chat_body(max_tokens=4)).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 4


def test_unknown_key_is_401_problem_json(llm: FakeLLM) -> None:
    response = post(llm, chat_body(), key="nvapi-wrong")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "status": 401,
        "title": "Unauthorized",
        "detail": "Authentication failed",
    }


def test_missing_key_is_401_and_sdk_raises_authentication_error(llm: FakeLLM) -> None:
    assert httpx.post(f"{llm.base_url}/chat/completions", json=chat_body()).status_code == 401
    client = openai.OpenAI(base_url=llm.base_url, api_key="nvapi-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])


def test_key_without_credits_is_403(llm: FakeLLM) -> None:
    response = post(llm, chat_body(), key=BROKE)
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"


def test_unknown_model_is_404_and_retired_model_is_410(llm: FakeLLM) -> None:
    unknown = post(llm, chat_body(model="acme/not-a-model"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    gone = post(llm, chat_body(model=RETIRED))
    assert gone.status_code == 410
    assert gone.json()["title"] == "Gone"
    assert "model has reached its end of life" in gone.json()["detail"]


def test_rate_limit_mode_answers_429_with_retry_after(llm: FakeLLM) -> None:
    llm.set_mode("rate_limit", retry_after=7)
    response = post(llm, chat_body(stream=True))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["status"] == 429


def test_degraded_mode_answers_400(llm: FakeLLM) -> None:
    llm.set_mode("degraded")
    response = post(llm, chat_body())
    assert response.status_code == 400
    assert "DEGRADED" in response.json()["detail"]


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_mode_answers_5xx(llm: FakeLLM, status: int) -> None:
    llm.set_mode("server_error", error_status=status)
    response = post(llm, chat_body())
    assert response.status_code == status
    assert response.json()["status"] == status


def test_admin_route_switches_mode_at_runtime(llm: FakeLLM) -> None:
    admin = llm.base_url.removesuffix("/v1") + "/_lab/mode"
    switched = httpx.post(admin, json={"mode": "rate_limit", "retry_after": 3})
    assert switched.json()["mode"] == "rate_limit"
    assert post(llm, chat_body()).status_code == 429
    httpx.post(admin, json={"mode": "normal"})
    assert post(llm, chat_body()).status_code == 200
    assert httpx.post(admin, json={"mode": "melting"}).status_code == 400


def test_cut_stream_ends_without_done(llm: FakeLLM) -> None:
    llm.set_mode("cut_stream", cut_after=3)
    lines: list[str] = []
    url = f"{llm.base_url}/chat/completions"
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", url, headers=auth(), json=chat_body(stream=True)) as response,
    ):
        lines.extend(line for line in response.iter_lines() if line)
    assert "data: [DONE]" not in lines
    assert len(lines) == 1 + 3  # the role chunk and three tokens


def test_slow_first_token_delays_only_the_first_token(llm: FakeLLM) -> None:
    llm.set_mode("slow_first_token", first_token_delay=0.5)
    began, events = timed_events(llm, chat_body(stream=True))
    times = content_times(events)
    assert times[0] - began >= 0.5
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.2


def test_pace_is_respected(llm: FakeLLM) -> None:
    llm.state.pace_ms = 40
    began, events = timed_events(llm, chat_body(stream=True))
    times = content_times(events)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] - began < 0.3
    assert 0.035 <= statistics.median(gaps) <= 0.08
    assert min(gaps) >= 0.03


async def one_stream(client: httpx.AsyncClient, url: str) -> tuple[bool, float]:
    """Whether a stream completed with [DONE], and its largest gap between events."""
    stamps: list[float] = []
    done = False
    async with client.stream("POST", url, headers=auth(), json=chat_body(stream=True)) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                stamps.append(time.monotonic())
                done = line == "data: [DONE]"
    return done, max(b - a for a, b in itertools.pairwise(stamps))


async def many_streams(url: str, count: int) -> list[tuple[bool, float]]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        return await asyncio.gather(*(one_stream(client, url) for _ in range(count)))


def test_fifty_concurrent_streams_all_complete_without_stalling(llm: FakeLLM) -> None:
    llm.state.pace_ms = 20
    results = asyncio.run(many_streams(f"{llm.base_url}/chat/completions", 50))
    assert all(done for done, _ in results)
    assert max(gap for _, gap in results) < 0.25


def test_every_request_is_recorded_with_its_headers_and_body(llm: FakeLLM) -> None:
    post(llm, chat_body(), key="nvapi-wrong")
    post(llm, chat_body())
    recorded = [r for r in llm.requests if r["path"] == "/v1/chat/completions"]
    assert [r["headers"]["authorization"] for r in recorded] == [
        "Bearer nvapi-wrong",
        f"Bearer {KEY}",
    ]
    assert recorded[1]["json"]["messages"][0]["content"] == PROMPT
    assert recorded[1]["method"] == "POST"


def test_models_can_require_a_key() -> None:
    with FakeLLM(keys=[KEY], public_models=False) as fake:
        assert httpx.get(f"{fake.base_url}/models").status_code == 401
        assert httpx.get(f"{fake.base_url}/models", headers=auth()).status_code == 200


def test_the_command_line_endpoint_serves(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "lab.llm", "--port", str(port), "--key", KEY]
    process = subprocess.Popen([*command, "--no-credit-key", BROKE, "--pace-ms", "1"])
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert httpx.get(f"{base}/models").status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "lab.llm did not start"
                time.sleep(0.05)
        url = f"{base}/chat/completions"
        assert httpx.post(url, headers=auth(), json=chat_body()).status_code == 200
        assert httpx.post(url, headers=auth(BROKE), json=chat_body()).status_code == 403
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=10) in (0, -signal.SIGTERM)
