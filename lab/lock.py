"""One lab per machine: whoever holds this lock owns the lab until its process exits."""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path
from typing import IO

LOCK_PATH = Path("/run/mailpanel-lab.lock")
_held: IO[str] | None = None


def hold_machine_lock() -> None:
    """Wait for the lab to be free, then keep it for the rest of this process."""
    global _held
    if _held is not None:
        return
    handle = LOCK_PATH.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write("lab: another run uses the lab; waiting for it to finish\n")
        fcntl.flock(handle, fcntl.LOCK_EX)
    _held = handle
