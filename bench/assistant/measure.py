"""Timing one stream, through the panel or straight at the endpoint, from the client's side."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.assistant.peers import KEY
from lab.samples import BRIEF


@dataclass
class Timing:
    started: float
    tokens: list[float] = field(default_factory=list)  # arrival of each text piece
    ended: float = 0.0
    ok: bool = False
    extra_ms: float = 0.0  # for the panel: the brief's POST before the stream

    @property
    def ttft_ms(self) -> float:
        return (self.tokens[0] - self.started) * 1000 if self.tokens else float("nan")

    @property
    def total_ms(self) -> float:
        return (self.ended - self.started) * 1000

    @property
    def max_gap_ms(self) -> float:
        gaps = [b - a for a, b in itertools.pairwise(self.tokens)]
        return max(gaps) * 1000 if gaps else 0.0

    def gaps_ms(self) -> list[float]:
        return [(b - a) * 1000 for a, b in itertools.pairwise(self.tokens)]


def chat_body() -> dict[str, Any]:
    """Exactly what the panel sends for BRIEF (same messages, limits and options)."""
    from mailpanel.assistant import prompts

    inputs: dict[str, Any] = {k: v for k, v in BRIEF.items() if k != "kind"}
    inputs["variants"] = int(inputs["variants"])
    return {
        "model": "deepseek-ai/deepseek-v3-0324",
        "messages": prompts.build_messages("email", inputs),
        "max_tokens": prompts.max_tokens("email"),
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def direct(client: httpx.AsyncClient, llm_url: str, body: dict[str, Any]) -> Timing:
    timing = Timing(time.perf_counter())
    headers = {"Authorization": f"Bearer {KEY}"}
    async with client.stream(
        "POST", f"{llm_url}/chat/completions", json=body, headers=headers
    ) as r:
        async for line in r.aiter_lines():
            if line == "data: [DONE]":
                timing.ok = True
            elif line.startswith("data: "):
                choices = json.loads(line[6:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    timing.tokens.append(time.perf_counter())
    timing.ended = time.perf_counter()
    return timing


async def write_brief(client: httpx.AsyncClient, panel_url: str) -> str:
    """POST the brief as the form does; returns the new draft's stream URL."""
    data = {**BRIEF, "csrfmiddlewaretoken": client.cookies["csrftoken"]}
    response = await client.post(f"{panel_url}/assistant/", data=data)
    if response.status_code != 302:
        raise RuntimeError(f"brief refused: {response.status_code}")
    return panel_url + response.headers["location"] + "stream/"


async def through_panel(client: httpx.AsyncClient, stream_url: str) -> Timing:
    timing = Timing(time.perf_counter())
    async with client.stream("GET", stream_url) as response:
        async for line in response.aiter_lines():
            if line == "event: token":
                timing.tokens.append(time.perf_counter())
            elif line == "event: done":
                timing.ok = True
    timing.ended = time.perf_counter()
    return timing


async def brief_then_stream(client: httpx.AsyncClient, panel_url: str) -> Timing:
    began = time.perf_counter()
    url = await write_brief(client, panel_url)
    timing = await through_panel(client, url)
    timing.extra_ms = (timing.started - began) * 1000
    return timing
