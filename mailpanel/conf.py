"""Typed reading of MAILPANEL_* environment variables.

Secrets may come from ``NAME`` or from a file named by ``NAME_FILE`` (Docker and
systemd credentials style), so a secret never has to sit in the environment.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str | None:
    """The secret from NAME, or from the file that NAME_FILE points to."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip() or None
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from exc
    return None


def mandatory_secret(name: str) -> str:
    value = env_secret(name)
    if not value:
        raise ImproperlyConfigured(
            f"{name} (or {name}_FILE) must be set when MAILPANEL_MODE=production"
        )
    return value


def generated_secret_file(path: Path, nbytes: int = 50) -> str:
    """Read a secret from ``path``, creating it (mode 0600) on first use.

    Used only in the embedded mode, so a fresh checkout works without setup but
    never shares a placeholder key with another installation.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) or tighten it to 0700 if this process owns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 (the umask can only take bits away from 0600),
    or tighten an existing one. SQLite gives its -wal and -shm files the database file's
    mode, so a database created this way stays private with its journal."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    path.chmod(0o600)
    return path
