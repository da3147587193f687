"""The data folder is the panel's user's alone: 0700, and every file the panel writes in it
0600, under the loosest umask, the way ``make run`` starts (migrate, a signup mail)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_RUN = (
    "import django; django.setup();"
    "from django.core.management import call_command; call_command('migrate', verbosity=0);"
    "from django.core.mail import send_mail;"
    "send_mail('Confirm', 'https://panel.example/confirm/secret-link', None, ['a@example.test']);"
    "from huey.contrib.djhuey import HUEY; HUEY.pending_count()"
)


def test_the_data_folder_and_its_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "var"
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("MAILPANEL_", "DATABASE", "REDIS"))
    }
    env = {**clean, "MAILPANEL_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "mailpanel.settings"}

    result = subprocess.run(
        [sys.executable, "-c", FIRST_RUN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(0o000),
    )

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file() and "static" not in p.parts]
    names = {p.name for p in files}
    assert {"mailpanel.sqlite3", "queue.sqlite3", "secret_key"} <= names
    assert any(p.parent.name == "outbox" for p in files)
    modes = {str(p.relative_to(data)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert {name: mode for name, mode in modes.items() if mode != "0o600"} == {}
    outbox = data / "outbox"
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
