"""The embedded mode's outbox: each message a file, readable by the panel's user alone.

The files hold live verification and password-reset links, so they are created 0600 in a
0700 folder, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.mail.backends.filebased import EmailBackend

from mailpanel.conf import private_dir


class PrivateFileBackend(EmailBackend):
    file_path: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        private_dir(Path(self.file_path))

    def open(self) -> bool:
        if self.stream is not None:
            return False
        name = self._get_filename()
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.stream = os.fdopen(fd, "ab")
        return True
