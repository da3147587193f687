"""Test settings: the panel's own settings, with a data folder that is only the tests'."""

import os
from pathlib import Path

os.environ.setdefault(
    "MAILPANEL_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from mailpanel.settings import *  # noqa: F403

# Tests reach only loopback: an unset peer points at the discard port, which refuses.
_NOWHERE = "http://127.0.0.1:9"
DNS_API_URLS = {name: _NOWHERE for name in DNS_API_URLS}  # noqa: F405
NVIDIA_API_URL = _NOWHERE
