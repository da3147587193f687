"""Logging: structlog in front of the standard library, with one redaction step.

Both structlog events and plain ``logging`` records from libraries (uvicorn's included)
pass through :func:`scrub` before they are written anywhere: the vault's
:func:`~mailpanel.vault.redaction.redact` plus the secret parts of URLs (email
confirmation and password reset keys, ``?token=`` values).

Lines go to the console (JSON or human-readable) and, always as JSON lines, to a file
per process role in the data folder, rotated at midnight UTC and deleted by age by
:func:`purge_log_files`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.config
import logging.handlers
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import structlog

from mailpanel.conf import private_dir
from mailpanel.vault.redaction import REDACTED, redact

# --- URLs that carry secrets -------------------------------------------------
# allauth's key URLs (account/urls.py): confirm-email/<key>/ and
# password/reset/key/<uidb36>-<key>/ (done/ is a fixed page). Whatever the mount point.
_STOP = r"/?#\s\"'\\"
_KEY_SEGMENTS = [
    re.compile(rf"(/confirm-email/)[^{_STOP}]+"),
    re.compile(rf"(/password/reset/key/)(?!done/)[^{_STOP}]+"),
]
_SECRET_PARAMS = {"key", "token", "code", "secret", "password", "signature", "sig", "t"}
_SECRET_PARAM_WORDS = ("token", "key", "secret", "password")
_NAME = r"[^=&?#\s\"'\\]*"
# The same names in free text (a traceback, a library's message): ?name=value or &name=value.
_SECRET_PARAM_IN_TEXT = re.compile(
    rf"(?i)([?&](?:{_NAME}(?:{'|'.join(_SECRET_PARAM_WORDS)}){_NAME}"
    rf"|{'|'.join(sorted(_SECRET_PARAMS))})=)[^&#\s\"'\\]+"
)


def _is_secret_param(name: str) -> bool:
    lowered = unquote_plus(name).lower()
    return lowered in _SECRET_PARAMS or any(word in lowered for word in _SECRET_PARAM_WORDS)


def _redact_param(pair: str) -> str:
    name, equals, _value = pair.partition("=")
    return f"{name}={REDACTED}" if equals and _is_secret_param(name) else pair


def _redact_key_segments(text: str) -> str:
    for segment in _KEY_SEGMENTS:
        text = segment.sub(rf"\1{REDACTED}", text)
    return text


def redact_path(path_with_query: str) -> str:
    """A request path fit for a log: key segments and secret query values replaced.

    ``/account/confirm-email/abc/?next=/&token=x`` becomes
    ``/account/confirm-email/[redacted]/?next=/&token=[redacted]``.
    """
    path, question, query = path_with_query.partition("?")
    path = _redact_key_segments(path)
    if not question:
        return path
    return f"{path}?{'&'.join(_redact_param(pair) for pair in query.split('&'))}"


def scrub(text: str) -> str:
    """Known secrets, secret shapes and secret-bearing URL parts, anywhere in ``text``."""
    if not text:
        return text
    return _SECRET_PARAM_IN_TEXT.sub(rf"\1{REDACTED}", _redact_key_segments(redact(text)))


def scrub_value(value: Any) -> Any:
    """:func:`scrub` every string inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(item) for item in value)
    return value


def redact_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: scrub_value(value) for key, value in event_dict.items()}


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Final formatter: whatever was rendered, scrub it once more."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class RedactFilter(logging.Filter):
    """Scrubs the message and arguments of stdlib records before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                record.args = {k: scrub_value(v) for k, v in record.args.items()}
            else:
                record.args = tuple(scrub_value(a) for a in record.args)
        return True


# --- the log file ------------------------------------------------------------
class DailyLogFile(logging.handlers.TimedRotatingFileHandler):
    """JSON lines in a 0600 file, rotated at midnight UTC, safe with several writers.

    Each role has a file of its own, but ``mailpanel web --workers N`` still runs N
    processes on one. The stdlib rollover removes an existing dated file before it
    renames, so the second process past midnight would delete what the first had just
    rotated. Here the first one hard-links the file to its dated name (which fails if
    that name exists) and unlinks it; the others see on their next line that the path
    names another file, reopen it, and find the dated file already made.
    """

    def __init__(self, filename: str) -> None:
        self._inode: tuple[int, int] | None = None
        super().__init__(filename, when="midnight", utc=True, backupCount=0, delay=True)

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with contextlib.suppress(PermissionError):  # not ours: the operator's choice
            os.fchmod(fd, 0o600)  # a file made before, under another umask
        stat = os.fstat(fd)
        self._inode = (stat.st_dev, stat.st_ino)
        return open(fd, "a", encoding="utf-8")  # the handler closes it

    def _moved(self) -> bool:
        try:
            stat = os.stat(self.baseFilename)
        except OSError:  # gone (a purge, an operator): start a new one
            return True
        return (stat.st_dev, stat.st_ino) != self._inode

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and self._moved():
            self.stream.close()
            self.stream = None  # type: ignore[assignment]  # reopened by FileHandler.emit
        super().emit(record)

    def doRollover(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        day = time.strftime(self.suffix, time.gmtime(self.rolloverAt - self.interval))
        with contextlib.suppress(FileNotFoundError, FileExistsError):
            os.link(self.baseFilename, f"{self.baseFilename}.{day}")
            os.unlink(self.baseFilename)
        self.rolloverAt = self.computeRollover(int(time.time()))


_ROLE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
DEFAULT_ROLE = "panel"


def role_log_file(log_file: Path, role: str) -> Path:
    """``mailpanel.log`` for the default role, ``mailpanel-web.log`` for ``web``, ..."""
    if not _ROLE.match(role):
        raise ValueError(f"a process role is a short lower-case word, not {role!r}")
    if role == DEFAULT_ROLE:
        return log_file
    return log_file.with_name(f"{log_file.stem}-{role}{log_file.suffix}")


def _live_files() -> set[Path]:
    """The files this process's handlers write to."""
    handlers = logging.getLogger().handlers
    return {Path(h.baseFilename) for h in handlers if isinstance(h, DailyLogFile)}


def _log_file_pattern(log_file: Path) -> re.Pattern[str]:
    stem, suffix = re.escape(log_file.stem), re.escape(log_file.suffix)
    return re.compile(rf"^{stem}(?:-[a-z][a-z0-9-]*)?{suffix}(?:\.\d{{4}}-\d{{2}}-\d{{2}})?$")


def purge_log_files(older_than_days: int, now: datetime | None = None) -> int:
    """Delete the panel's log files last written before the period; return how many.

    Rotated files (``mailpanel-web.log.2025-01-31``) and undated ones a role no longer
    writes. The files this process writes are never deleted; a file another process
    holds but has not written in the whole period holds nothing within the period
    either, and that process reopens the path on its next line.
    """
    from django.conf import settings

    log_file: Path | None = settings.LOG_FILE
    if log_file is None or not log_file.parent.is_dir():
        return 0
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=older_than_days)).timestamp()
    ours, live = _log_file_pattern(log_file), _live_files()
    paths = [p for p in log_file.parent.iterdir() if ours.match(p.name) and p not in live]
    return sum(_delete_if_older(path, cutoff) for path in paths)


def _delete_if_older(path: Path, cutoff: float) -> int:
    try:
        if path.stat().st_mtime >= cutoff:
            return 0
        path.unlink()
    except FileNotFoundError:  # another purge was first
        return 0
    return 1


# --- configuration -----------------------------------------------------------
def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        structlog.processors.format_exc_info,
        redact_event,
    ]


def _formatter(renderer: Any) -> dict[str, Any]:
    return {
        "()": RedactingFormatter,
        "processor": renderer,
        "foreign_pre_chain": _shared_processors(),
    }


def _handlers(log_file: Path | None) -> dict[str, dict[str, Any]]:
    handlers: dict[str, dict[str, Any]] = {
        "console": {"class": "logging.StreamHandler", "formatter": "console", "filters": ["redact"]}
    }
    if log_file is not None:
        private_dir(log_file.parent)
        handlers["file"] = {
            "()": DailyLogFile,
            "filename": str(log_file),
            "formatter": "json",
            "filters": ["redact"],
        }
    return handlers


def configure_logging(
    fmt: str, level: str, log_file: Path | None = None, role: str = DEFAULT_ROLE
) -> None:
    """Console lines in ``fmt`` (``json`` or ``console``); JSON lines in ``log_file``,
    renamed for ``role`` (see :func:`role_log_file`); ``None`` writes no file."""
    console: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, timestamp_key="time")
    )
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handlers = _handlers(role_log_file(log_file, role) if log_file is not None else None)
    names = list(handlers)  # the console first: tests pick its formatter as the panel's
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": RedactFilter}},
            "formatters": {
                "console": _formatter(console),
                "json": _formatter(structlog.processors.JSONRenderer()),
            },
            "handlers": handlers,
            "root": {"handlers": names, "level": level},
            "loggers": {
                "django.db.backends": {"level": "INFO"},
                "asyncssh": {"level": "WARNING"},
                # A handler of its own stops run_huey from adding a second one.
                "huey": {"level": "INFO", "handlers": names, "propagate": False},
                # uvicorn runs with log_config=None: its loggers are configured here only.
                # Its access log stays off; mailpanel.request writes that line, redacted.
                "uvicorn": {"level": "INFO", "handlers": names, "propagate": False},
                "uvicorn.error": {"level": "INFO"},
                "uvicorn.access": {"level": "WARNING"},
            },
        }
    )
