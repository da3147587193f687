"""Logging: structlog in front of the standard library, with one redaction step.

Both structlog events and plain ``logging`` records from libraries pass through
:func:`mailpanel.vault.redaction.redact` before they are written anywhere.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog

from mailpanel.vault.redaction import redact, redact_value


def redact_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: redact_value(value) for key, value in event_dict.items()}


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Final formatter: whatever was rendered, scrub it once more."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(fmt: str, level: str) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.format_exc_info,
        redact_event,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": "mailpanel.logs.RedactFilter"}},
            "formatters": {
                "structured": {
                    "()": RedactingFormatter,
                    "processor": renderer,
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "structured",
                    "filters": ["redact"],
                }
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.db.backends": {"level": "INFO"},
                "asyncssh": {"level": "WARNING"},
                # A handler of its own stops run_huey from adding a second one.
                "huey": {"level": "INFO", "handlers": ["console"], "propagate": False},
            },
        }
    )


class RedactFilter(logging.Filter):
    """Scrubs the message and arguments of stdlib records before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                record.args = {k: redact_value(v) for k, v in record.args.items()}
            else:
                record.args = tuple(redact_value(a) for a in record.args)
        return True
