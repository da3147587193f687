from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

import asyncssh
import pytest

from mailpanel.vault.keyring import reset_keyring


@pytest.fixture
def fresh_keyring(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A vault with its own key file, so rotation tests leave the suite's keys alone."""
    settings.VAULT_KEYS = None
    settings.VAULT_KEYS_FILE = tmp_path / "vault-keys"
    reset_keyring()
    yield settings.VAULT_KEYS_FILE
    reset_keyring()


class KeyOptions(TypedDict, total=False):
    key_size: int


def private_key(algorithm: str, passphrase: str | None = None, **kw: Unpack[KeyOptions]) -> str:
    key = asyncssh.generate_private_key(algorithm, **kw)
    return key.export_private_key(passphrase=passphrase).decode()
