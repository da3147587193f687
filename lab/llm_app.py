"""The ASGI app of the fake NVIDIA endpoint: auth, models, chat completions, error modes.

A raw ASGI app (no framework) so streaming is under our control: every SSE event is
sent as its own body message, which uvicorn writes to the socket at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from lab import llm_reply as reply

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = dict[str, str]

MODES = frozenset(
    {"normal", "rate_limit", "slow_first_token", "cut_stream", "degraded", "server_error"}
)
MODE_PARAMS = {
    "retry_after": int,
    "first_token_delay": float,
    "cut_after": int,
    "error_status": int,
}
OK, NO_CREDITS = "ok", "no_credits"


class Problem(Exception):
    """An HTTP error answered as application/problem+json, the way NVIDIA does."""

    def __init__(self, status: int, detail: str, headers: Headers | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        title = HTTPStatus(self.status).phrase
        return {"status": self.status, "title": title, "detail": self.detail}


@dataclass
class LlmState:
    """Configuration, runtime error mode and the request log shared with the test."""

    keys: dict[str, str]
    models: list[str]
    retired: list[str] = field(default_factory=list)
    pace_ms: float = 20.0
    public_models: bool = True
    mode: str = "normal"
    retry_after: int = 30
    first_token_delay: float = 3.0
    cut_after: int = 3
    error_status: int = 503
    requests: list[dict[str, Any]] = field(default_factory=list)
    created: int = field(default_factory=lambda: int(time.time()))

    def set_mode(self, mode: str, **params: Any) -> None:
        """Switch the error mode; params: retry_after, first_token_delay, cut_after,
        error_status."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {sorted(MODES)}")
        unknown = set(params) - set(MODE_PARAMS)
        if unknown:
            raise ValueError(f"unknown mode parameters {sorted(unknown)}")
        for name, value in params.items():
            setattr(self, name, MODE_PARAMS[name](value))
        self.mode = mode

    def mode_info(self) -> dict[str, Any]:
        info = {name: getattr(self, name) for name in MODE_PARAMS}
        return {"mode": self.mode, **info}


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        part: bytes = message.get("body", b"")
        body += part
        if not message.get("more_body"):
            return body


def header_dict(scope: Scope) -> Headers:
    headers: Headers = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def start(send: Send, status: int, content_type: str, headers: Headers) -> None:
    pairs = [(b"content-type", content_type.encode())]
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})


async def send_json(
    send: Send,
    status: int,
    body: Any,
    content_type: str = "application/json",
    headers: Headers | None = None,
) -> None:
    await start(send, status, content_type, headers or {})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def send_event(send: Send, data: dict[str, Any]) -> None:
    payload = b"data: " + json.dumps(data).encode() + b"\n\n"
    await send({"type": "http.response.body", "body": payload, "more_body": True})


def json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise Problem(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Problem(422, "Request body must be a JSON object")
    return data


class LlmApp:
    """ASGI callable; all behaviour is read from `state` at request time."""

    def __init__(self, state: LlmState) -> None:
        self.state = state
        self.routes: dict[tuple[str, str], Callable[[Headers, bytes, Send], Awaitable[None]]] = {
            ("GET", "/v1/models"): self.list_models,
            ("POST", "/v1/chat/completions"): self.chat,
            ("GET", "/_lab/mode"): self.get_mode,
            ("POST", "/_lab/mode"): self.post_mode,
            ("GET", "/_lab/requests"): self.get_requests,
            ("DELETE", "/_lab/requests"): self.clear_requests,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        headers, body = header_dict(scope), await read_body(receive)
        if not path.startswith("/_lab/"):
            self.record(method, scope["path"], headers, body)
        handler = self.routes.get((method, path))
        try:
            if handler is None:
                raise Problem(404, f"No route for {method} {path}")
            await handler(headers, body, send)
        except Problem as problem:
            await send_json(
                send, problem.status, problem.body(), "application/problem+json", problem.headers
            )

    def record(self, method: str, path: str, headers: Headers, body: bytes) -> None:
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        entry = {"method": method, "path": path, "headers": headers, "json": parsed}
        self.state.requests.append({**entry, "time": time.time()})

    def check_key(self, headers: Headers) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        standing = self.state.keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if standing is None:
            raise Problem(401, "Authentication failed")
        if standing == NO_CREDITS:
            raise Problem(403, "Cloud credits expired - Please contact NVIDIA representatives")

    def check_model(self, model: Any) -> str:
        if not isinstance(model, str) or not model:
            raise Problem(422, "Field 'model' is required")
        if model in self.state.retired:
            raise Problem(410, f"Model '{model}': model has reached its end of life")
        if model not in self.state.models:
            raise Problem(404, f"Function '{model}': Not found for account 'lab'")
        return model

    def check_mode(self, mode: str, model: str) -> None:
        if mode == "rate_limit":
            retry = {"retry-after": str(self.state.retry_after)}
            raise Problem(429, "Too many requests, slow down", retry)
        if mode == "degraded":
            raise Problem(400, f"Function '{model}': DEGRADED function cannot be invoked")
        if mode == "server_error":
            raise Problem(self.state.error_status, "The inference service failed")

    async def list_models(self, headers: Headers, body: bytes, send: Send) -> None:
        # NVIDIA lists models without a key; a key is only proven by a chat call.
        if not self.state.public_models:
            self.check_key(headers)
        await send_json(send, 200, reply.model_list(self.state.models, self.state.created))

    async def chat(self, headers: Headers, body: bytes, send: Send) -> None:
        self.check_key(headers)
        request = json_body(body)
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Problem(422, "Field 'messages' must be a non-empty list")
        model = self.check_model(request.get("model"))
        mode = self.state.mode  # one snapshot, so a switch mid-stream does not mix modes
        self.check_mode(mode, model)
        if request.get("stream"):
            await self.stream(request, model, mode, send)
        else:
            await self.complete(request, model, mode, send)

    def answer(self, request: dict[str, Any]) -> tuple[list[str], str, dict[str, int]]:
        """Token pieces, finish reason and usage of the reply to a request."""
        tokens = reply.pieces(reply.reply_text(request["messages"]))
        finish = "stop"
        limit = request.get("max_tokens") or request.get("max_completion_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        prompt = reply.count_prompt_tokens(request["messages"])
        return tokens, finish, reply.usage(prompt, len(tokens))

    async def first_token_wait(self, mode: str) -> None:
        if mode == "slow_first_token":
            await asyncio.sleep(self.state.first_token_delay)

    async def stream(self, request: dict[str, Any], model: str, mode: str, send: Send) -> None:
        tokens, finish, usage = self.answer(request)
        sse = {"cache-control": "no-cache"}
        await start(send, 200, "text/event-stream; charset=utf-8", sse)
        await self.first_token_wait(mode)
        cid, pace = reply.new_completion_id(), self.state.pace_ms / 1000
        await send_event(send, reply.chunk(cid, model, {"role": "assistant", "content": ""}))
        for index, token in enumerate(tokens):
            if mode == "cut_stream" and index >= self.state.cut_after:
                # Returning without the final body message makes uvicorn drop the connection.
                return
            if index:
                await asyncio.sleep(pace)
            await send_event(send, reply.chunk(cid, model, {"content": token}))
        options = request.get("stream_options") or {}
        final_usage = usage if options.get("include_usage") else None
        await send_event(send, reply.chunk(cid, model, {}, finish, final_usage))
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    async def complete(self, request: dict[str, Any], model: str, mode: str, send: Send) -> None:
        tokens, finish, usage = self.answer(request)
        await self.first_token_wait(mode)
        # A whole answer takes as long as its stream would have.
        await asyncio.sleep(self.state.pace_ms / 1000 * max(len(tokens) - 1, 0))
        body = json.dumps(reply.completion(model, "".join(tokens), finish, usage)).encode()
        if mode == "cut_stream":
            await start(send, 200, "application/json", {"content-length": str(len(body))})
            half = {"type": "http.response.body", "body": body[: len(body) // 2]}
            await send({**half, "more_body": True})
            return
        await start(send, 200, "application/json", {})
        await send({"type": "http.response.body", "body": body})

    async def get_mode(self, headers: Headers, body: bytes, send: Send) -> None:
        await send_json(send, 200, self.state.mode_info())

    async def post_mode(self, headers: Headers, body: bytes, send: Send) -> None:
        params = json_body(body)
        try:
            self.state.set_mode(str(params.pop("mode", "normal")), **params)
        except (ValueError, TypeError) as exc:
            raise Problem(400, str(exc)) from exc
        await send_json(send, 200, self.state.mode_info())

    async def get_requests(self, headers: Headers, body: bytes, send: Send) -> None:
        await send_json(send, 200, self.state.requests)

    async def clear_requests(self, headers: Headers, body: bytes, send: Send) -> None:
        self.state.requests.clear()
        await send_json(send, 200, {"cleared": True})
