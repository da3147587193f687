"""The benchmark's own guard: no socket may reach anywhere (mail goes to the file outbox).

A safety net for the figures' honesty only: the code under test is not changed, but a
connection it tried would raise here and fail the run instead of reaching the network.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

# The settings read MAILPANEL_* and these two; without any of them they are the embedded
# mode: SQLite, the SQLite queue, the file outbox and a key file in the data folder.
FOREIGN_SETTINGS = ("DATABASE_URL", "REDIS_URL")


class NetworkForbidden(RuntimeError):
    pass


def embedded_environment(data_dir: str) -> None:
    """The environment of a fresh embedded panel in ``data_dir``, whatever the shell had."""
    for name in list(os.environ):
        if name.startswith("MAILPANEL_") or name in FOREIGN_SETTINGS:
            del os.environ[name]
    os.environ["DJANGO_SETTINGS_MODULE"] = "mailpanel.settings"
    os.environ["MAILPANEL_DATA_DIR"] = data_dir


def forbid_network() -> None:
    """Every socket but a Unix one refuses to connect or send."""
    socket.socket.connect = _guard(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)  # type: ignore[method-assign]
    socket.socket.sendto = _guard(socket.socket.sendto)  # type: ignore[method-assign]


def _guard(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(self: socket.socket, *args: Any) -> Any:
        if self.family != socket.AF_UNIX:
            raise NetworkForbidden(f"the privacy benchmark sends nothing: {args[-1]!r}")
        return original(self, *args)

    return guarded
