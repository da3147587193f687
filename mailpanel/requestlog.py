"""The panel's access log: one ``request`` line per request, and the request's context
(request_id, ip, method, path, user_id) on every line logged while it is handled.

uvicorn's own access log is off (cli.py): it would write the path unredacted.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from mailpanel.logs import redact_path
from mailpanel.pages.middleware import _DualMode

log = structlog.get_logger("mailpanel.request")
REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept so its log and ours join up; anything else could forge log lines.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def resolved_user_id(request: HttpRequest) -> int | None:
    """The signed-in user's pk if the request has looked its user up, else None.

    Never a query of its own: in the async path the lazy ``request.user`` may not be
    touched at all, and a request that never asked who its user is (a static file, a
    public page) should not pay for the answer. ``login()`` sets ``request.user``
    itself; otherwise AuthenticationMiddleware's lazy lookups keep what they found.
    """
    found = vars(request)
    user = found.get("user")
    if user is not None and not isinstance(user, SimpleLazyObject):
        return _pk(user)
    return _pk(found.get("_cached_user") or found.get("_acached_user"))


def _pk(user: Any) -> int | None:
    return int(user.pk) if user is not None and user.is_authenticated else None


class RequestLogMiddleware(_DualMode):
    """Binds the request's context, writes its ``request`` line, sets X-Request-ID.

    user_id is known only after AuthenticationMiddleware, further in, so it is read on
    the way out (:func:`resolved_user_id`) and is on the ``request`` line, not on lines
    logged before the user was resolved. A second middleware after authentication
    would have to resolve the user itself on every request, a query the async path
    cannot make without a thread hop.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        request_id, started = self._begin(request)
        try:
            return self._finish(request, self.get_response(request), request_id, started)
        finally:
            structlog.contextvars.clear_contextvars()

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request_id, started = self._begin(request)
        try:
            response = await self.get_response(request)
            return self._finish(request, response, request_id, started)
        finally:
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def _begin(request: HttpRequest) -> tuple[str, float]:
        # A worker thread serves request after request: nothing of the last one stays.
        structlog.contextvars.clear_contextvars()
        request_id = request_id_for(request)
        structlog.contextvars.bind_contextvars(
            request_id=request_id,
            ip=request.META.get("REMOTE_ADDR", ""),
            method=request.method,
            path=redact_path(request.get_full_path()),
        )
        return request_id, time.monotonic()

    @staticmethod
    def _finish(
        request: HttpRequest, response: HttpResponseBase, request_id: str, started: float
    ) -> HttpResponseBase:
        structlog.contextvars.bind_contextvars(user_id=resolved_user_id(request))
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        # A streaming response is logged when its first byte is ready, not its last.
        log.info("request", status=response.status_code, duration_ms=duration_ms)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
