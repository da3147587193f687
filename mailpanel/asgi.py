"""The panel's ASGI application, behind a request body limit.

Django's ASGI handler reads a whole request body before any view (or
DATA_UPLOAD_MAX_MEMORY_SIZE) sees it, so the limit sits in front of Django: a declared
Content-Length over it is answered 413 at once, and a streamed body is cut off when it
passes it.
"""

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")

Message = Mapping[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit():
            await _answer(send, 400, b"Bad Content-Length.\n")
            return
        if int(declared) > self.limit:
            await _answer(send, 413, b"Request body too large.\n")
            return
        started = False

        async def counted_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._counting(receive), counted_send)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, b"Request body too large.\n")

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if seen > self.limit:
                raise BodyTooLarge
            return message

        return counted


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


application = BodyLimit(get_asgi_application(), settings.REQUEST_BODY_MAX_BYTES)
