"""Middleware written to run natively in both modes.

Under ASGI, one sync-only middleware pushes every request of an async view (the live
job log, the assistant's token stream) through a thread hop; these stay on the loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from allauth.usersessions.internal.usersessionkit import track_activity
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
Handler = Callable[[HttpRequest], Any]


class _DualMode:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]


class PermissionsPolicyMiddleware(_DualMode):
    """Browser features the panel never uses are switched off for every page."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return self._stamp(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._stamp(await self.get_response(request))

    @staticmethod
    def _stamp(response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class UserSessionActivityMiddleware(_DualMode):
    """allauth's session tracking (IP, browser, last seen), written at most once a minute.

    allauth writes on every request; "last seen" to the minute is what the session list
    shows, and most requests then cost no write at all.
    """

    EVERY_SECONDS = 60.0
    REMEMBERED = 10_000

    def __init__(self, get_response: Handler) -> None:
        super().__init__(get_response)
        self._last: OrderedDict[str, float] = OrderedDict()

    def _due(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        key = session.session_key if session is not None else None
        if not key:
            return False
        now = time.monotonic()
        if now - self._last.get(key, -self.EVERY_SECONDS) < self.EVERY_SECONDS:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self.REMEMBERED:
            self._last.popitem(last=False)
        return True

    def _track(self, request: HttpRequest) -> None:
        track_activity(request, user=getattr(request, "user", None), session=request.session)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        if self._due(request):
            self._track(request)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> Any:
        if self._due(request):
            await sync_to_async(self._track)(request)
        return await self.get_response(request)


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]
    """WhiteNoise, with a native async path for everything that is not a static file."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler | None = None, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> Any:
        static_file = (
            await sync_to_async(self.find_file)(request.path_info)
            if self.autorefresh
            else self.files.get(request.path_info)
        )
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        response: Awaitable[Any] = self.get_response(request)
        return await response


class ProcessingPausedMiddleware(_DualMode):
    """A job refused because its owner paused processing: one clear page, from any view."""

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.shortcuts import render

        from mailpanel.jobs.actions import ProcessingPaused

        if not isinstance(exception, ProcessingPaused):
            return None
        return render(request, "pages/paused.html", {"message": str(exception)}, status=409)
