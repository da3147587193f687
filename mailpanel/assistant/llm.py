"""The one door to NVIDIA's OpenAI-compatible API: every outbound LLM request passes here.

Plain httpx rather than the ``openai`` SDK: measured on the lab endpoint, the SDK added
about 2 ms to every first token (request building, validation, chunk models), a fifth of
the panel's 10 ms budget, and sent the server's OS and Python version in X-Stainless-*
headers. The wire format is small: JSON in, server-sent events out.

This module owns: the user's own key per request, explicit timeouts (first token and
whole answer), no automatic retries (a retried answer costs the user twice), no cookies
shared between users, and errors mapped to messages in the user's words (``failures``),
never the upstream text.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from mailpanel.assistant import conf, failures
from mailpanel.assistant.failures import LlmError
from mailpanel.assistant.prompts import Message

PROBE_PROMPT = "Reply with the single word OK."
USER_AGENT = "MailPanel-Pro"


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


Piece = Token | Usage

# One pooled client per event loop, so the connection to NVIDIA stays warm (no TLS
# handshake on every first token); a loop's client cannot be used from another loop.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _new_client() -> httpx.AsyncClient:
    # The pool is shared by every user of this process: a cookie set on one user's answer
    # must never ride along on another user's request, so no cookie is ever kept.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        cookies=no_cookies,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        headers={"User-Agent": USER_AGENT},
    )


def _pool() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or pool.is_closed:
        pool = _pools[loop] = _new_client()
    return pool


async def close_pool() -> None:
    """Close this event loop's pool (tests end their loops; a server keeps its one)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.aclose()


def _timeout() -> httpx.Timeout:
    # read: the longest silence allowed, before the first piece and between two pieces.
    connect = conf.connect_timeout()
    return httpx.Timeout(connect, read=conf.first_token_timeout(), write=connect, pool=connect)


def _headers(api_key: str, stream: bool = False) -> dict[str, str]:
    accept = "text/event-stream" if stream else "application/json"
    return {"Authorization": f"Bearer {api_key}", "Accept": accept}


def _problem(response: httpx.Response) -> object:
    """NVIDIA answers errors as application/problem+json; anything else as text."""
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def translate(exc: Exception, model: str, partial: bool) -> LlmError:
    """Turn a transport exception into an LlmError; ``partial``: text had already arrived."""
    if isinstance(exc, LlmError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        seconds = conf.first_token_timeout()
        return failures.stalled(seconds) if partial else failures.first_token_timeout(seconds)
    detail = f"{type(exc).__name__}: {exc}"
    if partial:
        return failures.cut(detail)  # a dropped connection or a broken or error event
    if isinstance(exc, httpx.TransportError):
        return failures.unreachable(detail)
    return failures.bad_answer(detail)


async def _checked(response: httpx.Response, model: str) -> httpx.Response:
    if response.status_code >= 400:
        await response.aread()
        raise failures.from_status(
            response.status_code, _problem(response), response.headers, model
        )
    return response


async def list_models(api_key: str) -> list[str]:
    """The model ids NVIDIA offers (``GET /models``, with the user's key as Bearer)."""
    async with _new_client() as client:
        try:
            async with asyncio.timeout(conf.answer_timeout()):
                response = await client.get(
                    f"{conf.api_url()}/models", headers=_headers(api_key), timeout=_timeout()
                )
                await _checked(response, "")
            return [str(model["id"]) for model in response.json()["data"]]
        except TimeoutError as exc:
            raise failures.first_token_timeout(conf.answer_timeout()) from exc
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise translate(exc, "", partial=False) from exc


async def probe(api_key: str, model: str) -> Usage:
    """Ask for one token: the only proof that a key works (``/models`` answers anyone)."""
    body = {"model": model, "messages": [{"role": "user", "content": PROBE_PROMPT}]}
    async with _new_client() as client:
        try:
            async with asyncio.timeout(conf.answer_timeout()):
                response = await client.post(
                    f"{conf.api_url()}/chat/completions",
                    json={**body, "max_tokens": 1, "stream": False},
                    headers=_headers(api_key),
                    timeout=_timeout(),
                )
                await _checked(response, model)
            usage = response.json().get("usage") or {}
        except TimeoutError as exc:
            raise failures.first_token_timeout(conf.answer_timeout()) from exc
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise translate(exc, model, partial=False) from exc
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


async def stream_chat(
    api_key: str, model: str, messages: Sequence[Message], *, max_tokens: int
) -> AsyncGenerator[Piece, None]:
    """Yield the answer's text pieces as they arrive, then its usage when NVIDIA sends it.

    Raises LlmError. The first piece must come within the first-token timeout, the whole
    answer within the answer timeout; the timeouts wrap each wait, never a ``yield``, so
    the consumer's own time is not counted against NVIDIA.
    """
    body = {
        "model": model,
        "messages": list(messages),
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    loop = asyncio.get_running_loop()
    total, first = conf.answer_timeout(), conf.first_token_timeout()
    started, partial, finished = loop.time(), False, False
    pool = _pool()
    request = pool.build_request(
        "POST",
        f"{conf.api_url()}/chat/completions",
        json=body,
        headers=_headers(api_key, stream=True),
        timeout=_timeout(),
    )
    try:
        async with asyncio.timeout_at(started + min(first, total)):
            response = await _checked(await pool.send(request, stream=True), model)
        try:
            events = _sse_data(response.aiter_lines())
            while True:
                deadline = started + (total if partial else min(first, total))
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await anext(events)
                except StopAsyncIteration:
                    break
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                for piece in _pieces(chunk):
                    partial = partial or isinstance(piece, Token)
                    yield piece
                finished = finished or _finished(chunk)
        finally:
            await response.aclose()
        if not finished:  # closed cleanly but before the answer's end
            raise failures.cut("the stream ended without a finish reason")
    except TimeoutError as exc:
        if partial or total <= first:
            raise failures.answer_timeout(total, partial) from exc
        raise failures.first_token_timeout(first) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise translate(exc, model, partial) from exc


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each server-sent event (comments and other fields skipped)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


def _pieces(chunk: Any) -> list[Piece]:
    if not isinstance(chunk, dict):
        raise ValueError("a stream event that is not an object")
    if chunk.get("error"):
        raise ValueError(f"an error event in the stream: {chunk['error']}")
    pieces: list[Piece] = []
    for choice in chunk.get("choices") or []:
        content = (choice.get("delta") or {}).get("content")
        if content:
            pieces.append(Token(str(content)))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        pieces.append(
            Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        )
    return pieces


def _finished(chunk: dict[str, Any]) -> bool:
    return any(choice.get("finish_reason") for choice in chunk.get("choices") or [])
