"""Test settings: the panel's own settings, with a data folder that is only the tests'."""

import os
from pathlib import Path

os.environ.setdefault(
    "MAILPANEL_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from mailpanel.settings import *  # noqa: F403
