"""The ``mailpanel`` command as a newcomer first types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mailpanel(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("MAILPANEL_", "DATABASE", "REDIS"))
    }
    env = {**clean, "MAILPANEL_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "mailpanel.settings"}
    return subprocess.run(
        [sys.executable, "-m", "mailpanel.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(("command", "usage"), [("vault", "mailpanel vault"), ("lab", "-m lab")])
def test_help_of_a_pass_through_command_is_its_own(
    tmp_path: Path, command: str, usage: str
) -> None:
    result = mailpanel(command, "--help", data=tmp_path)

    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("usage:") and usage in first


def test_vault_status_before_migrating_says_what_to_run(tmp_path: Path) -> None:
    result = mailpanel("vault", "status", data=tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "mailpanel manage migrate" in result.stderr


def test_an_unknown_option_of_our_own_commands_is_still_an_error(tmp_path: Path) -> None:
    result = mailpanel("web", "--no-such-option", data=tmp_path)

    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr
