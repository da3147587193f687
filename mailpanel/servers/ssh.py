"""The one door to customers' servers: asyncssh with pinned host keys and quoted commands.

Every command is an argument list joined with ``shlex.join``; scripts are constant text
from this code base and receive user values only as quoted positional arguments. No
user value is ever pasted into a shell string.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from mailpanel import netguard

CONNECT_TIMEOUT = 15.0
COMMAND_TIMEOUT = 300.0

LogFn = Callable[[str, str], None]


class SshError(Exception):
    """A failure with a message meant for the server's owner."""


class HostKeyChanged(SshError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"host key changed: possible interception. {host} presented a different host key "
            "than the one you confirmed. Every action on this server is stopped until you "
            "check the server and confirm its new key."
        )


class AuthFailed(SshError):
    pass


class Unreachable(SshError):
    pass


class Refused(SshError):
    """The host is an address the panel does not connect to (loopback, metadata, ...)."""


class CommandTimeout(SshError):
    pass


class SudoFailed(SshError):
    pass


class CommandFailed(SshError):
    def __init__(self, command: str, result: Result) -> None:
        detail = (result.stderr or result.stdout).strip().splitlines()
        tail = detail[-1] if detail else "no output"
        super().__init__(f"`{command}` failed with exit status {result.exit_status}: {tail}")
        self.result = result


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    username: str
    pinned_host_key: str | None = None  # an OpenSSH public key line
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    sudo_password: str | None = field(default=None, repr=False)

    @property
    def needs_sudo(self) -> bool:
        return self.username != "root"


@dataclass(frozen=True)
class Result:
    exit_status: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def fingerprint(public_key_line: str) -> str:
    return str(asyncssh.import_public_key(public_key_line).get_fingerprint("sha256"))


async def fetch_host_key(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str:
    """First contact: the key the server offers, as an OpenSSH line (not yet trusted)."""
    try:
        address = await _address(host, port)
        key = await asyncio.wait_for(asyncssh.get_server_host_key(address, port), timeout)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise _unreachable(host, port) from exc
    if key is None:
        raise _unreachable(host, port)
    return key.export_public_key().decode().strip()


async def _address(host: str, port: int) -> str:
    """The checked address to connect to (see ``netguard``)."""
    try:
        return await netguard.connectable_address(host, port)
    except netguard.AddressRefused as exc:
        raise Refused(str(exc)) from exc


def _unreachable(host: str, port: int) -> SshError:
    # One message whatever happened: refused, closed, not SSH or silent. Telling them apart
    # would make the panel a port scanner for whoever types the host.
    return Unreachable(
        f"No SSH server answered at {host}:{port}. Check the address, the port and that the "
        "server's firewall lets the panel in."
    )


async def connect(target: Target) -> asyncssh.SSHClientConnection:
    if not target.pinned_host_key:
        raise SshError("The host key of this server has not been confirmed yet.")
    trusted = asyncssh.import_public_key(target.pinned_host_key)
    keys = []
    if target.private_key:
        keys.append(asyncssh.import_private_key(target.private_key, target.passphrase or None))
    options = asyncssh.SSHClientConnectionOptions(
        username=target.username,
        known_hosts=([trusted], [], []),
        client_keys=keys or None,
        password=target.password,
        agent_path=None,
        connect_timeout=CONNECT_TIMEOUT,
        login_timeout=CONNECT_TIMEOUT,
        keepalive_interval=30,
        preferred_auth=("publickey",) if keys else ("password", "keyboard-interactive"),
    )
    try:
        address = await _address(target.host, target.port)
        return await asyncssh.connect(address, target.port, options=options)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyChanged(target.host) from exc
    except asyncssh.PermissionDenied as exc:
        raise AuthFailed(
            f"{target.username}@{target.host} refused the credential: check that the key is in "
            "authorized_keys or that the password is right."
        ) from exc
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise _unreachable(target.host, target.port) from exc


@dataclass
class Remote:
    """Commands on one connected server, logged as they run (the owner's audit trail)."""

    conn: asyncssh.SSHClientConnection
    target: Target
    log: LogFn | None = None

    def _wrap(self, argv: Sequence[str]) -> tuple[str, str | None]:
        command = shlex.join(argv)
        if not self.target.needs_sudo:
            return command, None
        if self.target.sudo_password:
            return f"sudo -S -p '' -- {command}", self.target.sudo_password + "\n"
        return f"sudo -n -- {command}", None

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        quiet: bool = False,
        shown: str | None = None,
    ) -> Result:
        command, prefix = self._wrap(argv)
        if self.log and not quiet:
            self.log(f"$ {shown or shlex.join(argv)}", "command")
        started = time.monotonic()
        stdin = (prefix or "") + (input or "")
        # An empty input must still close stdin at once, or `cat` would wait forever.
        feed: dict[str, Any] = {"input": stdin} if stdin else {"stdin": asyncssh.DEVNULL}
        try:
            # A byte that is not UTF-8 (a log line, a file) must not end the session.
            done = await self.conn.run(
                command, check=False, timeout=timeout, errors="replace", **feed
            )
        except asyncssh.TimeoutError as exc:
            raise CommandTimeout(f"`{shown or argv[0]}` took longer than {timeout:.0f} s") from exc
        except (asyncssh.Error, OSError) as exc:
            raise SshError(f"The connection to {self.target.host} was lost: {exc}") from exc
        result = Result(
            exit_status=done.exit_status if done.exit_status is not None else 255,
            stdout=_text(done.stdout),
            stderr=_text(done.stderr),
            seconds=time.monotonic() - started,
        )
        _raise_for_sudo(self.target, result)
        if check and not result.ok:
            raise CommandFailed(shown or shlex.join(argv), result)
        return result

    async def script(
        self,
        text: str,
        *args: str,
        name: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        quiet: bool = False,
    ) -> Result:
        """Run constant script ``text`` with ``args`` as its quoted positional parameters."""
        shown = f"{name} " + shlex.join(args) if args else name
        return await self.run(
            ["sh", "-c", text, name, *args],
            input=input,
            check=check,
            timeout=timeout,
            quiet=quiet,
            shown=shown,
        )

    async def write_file(
        self,
        path: str,
        content: str,
        *,
        mode: str = "0644",
        owner: str = "root:root",
        secret: bool = False,
    ) -> None:
        """Replace ``path`` atomically; the content travels on stdin, never in a command."""
        await self.script(
            WRITE_FILE,
            path,
            mode,
            owner,
            name="write-file",
            input=content,
        )
        if self.log and secret:
            self.log(f"  ({len(content)} bytes, content not logged)", "info")


WRITE_FILE = r"""
set -eu
path=$1; mode=$2; owner=$3
dir=$(dirname -- "$path")
mkdir -p -- "$dir"
tmp=$(mktemp -- "$path.mailpanel.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod -- "$mode" "$tmp"
chown -- "$owner" "$tmp"
mv -f -- "$tmp" "$path"
trap - EXIT
"""


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _raise_for_sudo(target: Target, result: Result) -> None:
    if not target.needs_sudo or result.ok:
        return
    err = result.stderr.lower()
    if "incorrect password" in err or "sorry, try again" in err:
        raise SudoFailed(f"sudo on {target.host} refused the sudo password.")
    if "a password is required" in err or "no password was provided" in err:
        raise SudoFailed(
            f"sudo on {target.host} needs a password: add the sudo password to this server."
        )
    if "is not in the sudoers file" in err or "not allowed to run sudo" in err:
        raise SudoFailed(f"{target.username} may not use sudo on {target.host}.")
