"""Facts, then operations: change only what differs from the desired mail stack.

One round trip reads the state of every package, file, service and the certificate;
the operations that follow run only where that state differs. A second converge on an
unchanged server therefore makes one read and no change.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mailpanel.servers.mailstack import (
    TLS_CERT,
    TLS_KEY,
    MailStack,
    ManagedFile,
)
from mailpanel.servers.policysite import NGINX_CONF, PolicySite
from mailpanel.servers.ssh import CommandFailed, Remote, SshError

SUPPORTED_OS = {("debian", "12"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
CERT_MIN_SECONDS = 30 * 86400

LogFn = Callable[[str, str], None]


class UnsupportedOS(SshError):
    pass


@dataclass
class RemoteState:
    os: tuple[str, str] = ("", "")
    hostname: str = ""
    packages: dict[str, str] = field(default_factory=dict)  # name -> "ii 3.7.11" | "missing"
    files: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # sha256, mode, owner
    services: dict[str, tuple[str, str]] = field(default_factory=dict)  # active, enabled
    cert_exists: bool = False
    cert_valid: bool = False  # for this hostname, and not expiring within 30 days
    cert_self_signed: bool = False
    aliases_db: bool = False
    # Other certificates (the MTA-STS sites') -> there and not expired: certbot.timer renews
    # them, so a site stays served through its renewal window.
    certs: dict[str, bool] = field(default_factory=dict)
    policy_certs: list[str] = field(default_factory=list)  # mta-sts.* certificate names

    def package_installed(self, name: str) -> bool:
        return self.packages.get(name, "missing").startswith("ii")


READ_STATE = r"""
. /etc/os-release 2>/dev/null && printf 'O %s %s\n' "${ID:-unknown}" "${VERSION_ID:-unknown}"
printf 'H %s\n' "$(hostname)"
cert=$1; name=$2; min=$3
while read -r kind arg; do
  case "$kind" in
  P) s=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$arg" 2>/dev/null) || s=missing
     printf 'P %s %s\n' "$arg" "${s:-missing}" ;;
  F) if [ -f "$arg" ]; then
       h=$(sha256sum < "$arg" | cut -d' ' -f1)
       printf 'F %s %s %s\n' "$arg" "$h" "$(stat -c '%a %U:%G' "$arg")"
     else printf 'F %s - - -\n' "$arg"; fi ;;
  S) a=$(systemctl is-active "$arg" 2>/dev/null); e=$(systemctl is-enabled "$arg" 2>/dev/null)
     printf 'S %s %s %s\n' "$arg" "${a:-unknown}" "${e:-unknown}" ;;
  C) v=0
     [ -f "$arg" ] && openssl x509 -in "$arg" -noout -checkend 0 >/dev/null 2>&1 && v=1
     printf 'C %s %s\n' "$arg" "$v" ;;
  esac
done
if [ -f "$cert" ] && command -v openssl >/dev/null; then
  valid=0; self=0
  openssl x509 -in "$cert" -noout -checkend "$min" >/dev/null 2>&1 \
    && openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -qF "DNS:$name" \
    && valid=1
  [ "$(openssl x509 -in "$cert" -noout -subject)" = \
    "$(openssl x509 -in "$cert" -noout -issuer | sed 's/^issuer/subject/')" ] && self=1
  echo "T 1 $valid $self"
else echo 'T 0 0 0'; fi
[ -f /etc/aliases.db ] && echo 'A ok' || echo 'A missing'
for d in /etc/letsencrypt/live/mta-sts.*; do [ -d "$d" ] && printf 'L %s\n' "${d##*/}"; done
exit 0
"""


def parse_state(text: str) -> RemoteState:
    state = RemoteState()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        parts = rest.split(" ")
        if kind == "O" and len(parts) >= 2:
            state.os = (parts[0].lower(), parts[1])
        elif kind == "H":
            state.hostname = rest.strip()
        elif kind == "P":
            state.packages[parts[0]] = " ".join(parts[1:])
        elif kind == "F" and len(parts) >= 4:
            state.files[parts[0]] = (parts[1], parts[2], parts[3])
        elif kind == "S" and len(parts) >= 3:
            state.services[parts[0]] = (parts[1], parts[2])
        elif kind == "T" and len(parts) >= 3:
            state.cert_exists, state.cert_valid, state.cert_self_signed = (
                p == "1" for p in parts[:3]
            )
        elif kind == "A":
            state.aliases_db = rest.strip() == "ok"
        elif kind == "C" and len(parts) >= 2:
            state.certs[parts[0]] = parts[1] == "1"
        elif kind == "L":
            state.policy_certs.append(rest.strip())
    return state


async def read_state(remote: Remote, stack: MailStack, files: list[ManagedFile]) -> RemoteState:
    wanted = [f"P {p}" for p in stack.packages]
    wanted += [f"F {f.path}" for f in files]
    wanted += [f"S {s}" for s in stack.services]
    wanted += [f"C {s.cert_path}" for s in stack.policy_sites if stack.serves_policies]
    result = await remote.script(
        READ_STATE,
        TLS_CERT,
        stack.hostname,
        str(CERT_MIN_SECONDS),
        name="read-state",
        input="\n".join(wanted) + "\n",
    )
    return parse_state(result.stdout)


def file_differs(state: RemoteState, managed: ManagedFile) -> bool:
    digest = hashlib.sha256(managed.content.encode()).hexdigest()
    current = state.files.get(managed.path, ("-", "-", "-"))
    mode = managed.mode.lstrip("0") or "0"
    return current != (digest, mode, managed.owner)


@dataclass
class ConvergeReport:
    changes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class Converger:
    def __init__(self, remote: Remote, stack: MailStack, log: LogFn) -> None:
        self.remote = remote
        self.stack = stack
        self.log = log
        self.report = ConvergeReport()
        self.to_reload: set[str] = set()

    async def run(self) -> ConvergeReport:
        started = time.monotonic()
        files = [
            ManagedFile("/etc/hostname", self.stack.hostname + "\n"),
            ManagedFile("/etc/aliases", ALIASES),
            *self.stack.files(),
        ]
        # Every file that may be written is read, also the sites still without a certificate.
        probe = files + self.stack.policy_files(self.stack.policy_sites)
        state = await self._step("read state", read_state(self.remote, self.stack, probe))
        certified = tuple(s for s in self.stack.policy_sites if state.certs.get(s.cert_path))
        files += self.stack.policy_files(certified)
        self._check_os(state)
        await self._step("packages", self._packages(state))
        await self._step("hostname", self._hostname(state))
        await self._step("TLS certificate", self._certificate(state))
        await self._step("configuration files", self._files(state, files))
        await self._step("aliases", self._aliases(state))
        await self._step("configuration check", self._check_config())
        await self._step("services", self._services(state))
        if self.stack.acme:
            await self._step("ACME certificate", self._acme_certificate(state))
        if self.stack.serves_policies:
            await self._step("MTA-STS policies", self._policy_sites(state, certified))
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _step(self, title: str, coro: object) -> RemoteState:
        started = time.monotonic()
        before = len(self.report.changes)
        result = await coro  # type: ignore[misc]
        changed = self.report.changes[before:]
        outcome = "changed: " + "; ".join(changed) if changed else "unchanged"
        level = "changed" if changed else "info"
        self.log(f"{title}: {outcome} ({time.monotonic() - started:.2f} s)", level)
        return result  # type: ignore[no-any-return]

    def _changed(self, what: str) -> None:
        self.report.changes.append(what)

    def _check_os(self, state: RemoteState) -> None:
        if state.os not in SUPPORTED_OS:
            name = " ".join(state.os).strip() or "an unknown system"
            raise UnsupportedOS(
                f"This server runs {name}; the panel supports Debian 12 and Ubuntu 22.04/24.04."
            )

    async def _packages(self, state: RemoteState) -> None:
        missing = [p for p in self.stack.packages if not state.package_installed(p)]
        if not missing:
            return
        # Debian asks how Postfix should be set up; the panel writes its own main.cf.
        await self.remote.run(
            ["debconf-set-selections"],
            input="postfix postfix/main_mailer_type select No configuration\n",
        )
        apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y"]
        await self.remote.run([*apt, "update"], timeout=600)
        await self.remote.run(
            [
                *apt,
                "-o",
                "Dpkg::Options::=--force-confold",
                "install",
                "--no-install-recommends",
                *missing,
            ],
            timeout=900,
        )
        self._changed("installed " + " ".join(missing))

    async def _hostname(self, state: RemoteState) -> None:
        if state.hostname == self.stack.hostname:
            return
        await self.remote.run(["hostname", self.stack.hostname])
        self._changed(f"hostname {state.hostname} → {self.stack.hostname}")

    async def _certificate(self, state: RemoteState) -> None:
        """A self-signed certificate; with ACME only a bootstrap until the real one comes."""
        if state.cert_exists and (state.cert_valid or self.stack.acme):
            return
        await self.remote.script(
            SELF_SIGNED, TLS_CERT, TLS_KEY, self.stack.hostname, name="self-signed-certificate"
        )
        self._changed(f"self-signed certificate for {self.stack.hostname}")
        self.to_reload.update({"postfix", "dovecot"})

    async def _acme_certificate(self, state: RemoteState) -> None:
        assert self.stack.acme is not None
        if state.cert_valid and not state.cert_self_signed:
            return
        # certbot answers the HTTP-01 challenge itself on port 80, then runs the deploy
        # hook, which installs the certificate and reloads Postfix and Dovecot.
        await self.remote.run(self.stack.acme.certbot(self.stack.hostname), timeout=300)
        self._changed(f"ACME certificate for {self.stack.hostname}")

    async def _policy_sites(self, state: RemoteState, certified: tuple[PolicySite, ...]) -> None:
        """A certificate for each mta-sts name that points here, then nginx serves it too.

        A name DNS does not point here yet, or a certificate the CA refuses, leaves that
        policy unserved (senders then treat the domain as having none) and the rest going.
        """
        assert self.stack.acme is not None
        wanted = {s.host for s in self.stack.policy_sites}
        for name in state.policy_certs:
            if name not in wanted:  # a domain that left: its renewals would fail forever
                await self.remote.run(
                    ["certbot", "delete", "--non-interactive", "--cert-name", name]
                )
                self._changed(f"deleted the certificate of {name}")
        issued: list[PolicySite] = []
        for site in self.stack.policy_sites:
            if site in certified:
                continue
            if not site.resolves:
                self.log(
                    f"{site.host} does not point at this server in DNS yet: its MTA-STS policy "
                    "is served once the domain's DNS records are applied",
                    "warning",
                )
                continue
            try:
                await self.remote.run(self.stack.acme.certbot_policy_site(site), timeout=300)
            except CommandFailed as exc:
                self.log(f"No certificate for {site.host}: {exc}", "warning")
                continue
            issued.append(site)
            self._changed(f"ACME certificate for {site.host}")
        if not issued:
            return
        serving = tuple(s for s in self.stack.policy_sites if s in certified or s in issued)
        written = {s.conf_path for s in issued} | {NGINX_CONF}  # the rest is on disk already
        for managed in self.stack.policy_files(serving):
            if managed.path in written:
                await self.remote.write_file(managed.path, managed.content, mode=managed.mode)
                self._changed(managed.path)
        if await self._nginx(["nginx", "-t"], ["systemctl", "reload", "nginx"]):
            self._changed("reloaded nginx")

    async def _nginx(self, *commands: list[str]) -> bool:
        """nginx only serves MTA-STS policies: its trouble is a warning, never a failed mail
        stack (a domain's DKIM signing must not wait for its policy's web server)."""
        try:
            for command in commands:
                await self.remote.run(command)
        except CommandFailed as exc:
            self.log(
                f"nginx: {exc}; MTA-STS policies are not served until this is fixed", "warning"
            )
            return False
        return True

    async def _files(self, state: RemoteState, files: list[ManagedFile]) -> None:
        for managed in files:
            if not file_differs(state, managed):
                continue
            await self.remote.write_file(
                managed.path,
                managed.content,
                mode=managed.mode,
                owner=managed.owner,
                secret=managed.secret,
            )
            self._changed(managed.path)
            self.to_reload.update(managed.reload)
            if managed.path == "/etc/aliases":
                state.aliases_db = False

    async def _aliases(self, state: RemoteState) -> None:
        if state.aliases_db:
            return
        await self.remote.run(["newaliases"])
        self._changed("alias database")

    async def _check_config(self) -> None:
        await self.remote.run(["postfix", "check"])
        await self.remote.run(["doveconf", "-n"], quiet=False)
        await self.remote.run(["opendkim", "-n"])
        if self.stack.serves_policies:
            await self._nginx(["nginx", "-t"])

    async def _services(self, state: RemoteState) -> None:
        for service in self.stack.services:
            active, enabled = state.services.get(service, ("unknown", "unknown"))
            if enabled != "enabled" and await self._systemctl("enable", service):
                self._changed(f"enabled {service}")
            if active != "active" and await self._systemctl("restart", service):
                self._changed(f"started {service}")
                self.to_reload.discard(service)
        if "systemd" in self.to_reload:
            await self.remote.run(["systemctl", "daemon-reload"])
        for service in self.stack.services:
            if service in self.to_reload:
                verb = "reload" if service == "postfix" else "restart"
                if await self._systemctl(verb, service):
                    self._changed(f"{verb}ed {service}")

    async def _systemctl(self, verb: str, service: str) -> bool:
        if service == "nginx":
            return await self._nginx(["systemctl", verb, service])
        await self.remote.run(["systemctl", verb, service])
        return True


ALIASES = "# Written by MailPanel Pro.\npostmaster: root\nabuse: root\n"

SELF_SIGNED = r"""
set -eu
cert=$1; key=$2; name=$3
umask 077
mkdir -p -- "$(dirname -- "$cert")"
tmp=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$name" \
  -addext "subjectAltName=DNS:$name" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
chmod 0644 "$tmp/cert.pem"; chmod 0600 "$tmp/key.pem"
mv -f -- "$tmp/key.pem" "$key"; mv -f -- "$tmp/cert.pem" "$cert"
rmdir -- "$tmp"
"""
