"""Django error reports (debug pages, admin error mails) with secrets scrubbed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter

from mailpanel.vault.redaction import REDACTED, redact


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    cleansed_substitute = REDACTED

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        value = super().cleanse_setting(key, value)
        return redact(value) if isinstance(value, str) else value

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if not isinstance(params, QueryDict):
            return params
        cleaned = params.copy()
        for key in cleaned:
            cleaned.setlist(key, [redact(str(v)) for v in cleaned.getlist(key)])
        return cleaned

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self._scrub(value)) for name, value in variables]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        # Anything else is shown through its repr: scrub that text instead.
        text = repr(value)
        scrubbed = redact(text)
        return scrubbed if scrubbed != text else value
