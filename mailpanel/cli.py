"""The ``mailpanel`` command.

serve   web + worker + inbound in one process tree (the embedded mode)
web     the ASGI web server alone (scale-out: run N of these)
worker  the job worker alone (scale-out: run M of these)
inbound the SMTP receiver for the panel's own addresses (privacy@, support@)
manage  any Django management command (migrate, createsuperuser, ...)
vault   vault keys: status, rotate, retire
lab     the test lab (``mailpanel lab up --hosts 3``)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


ROLE_ENV = "MAILPANEL_PROCESS_ROLE"


def _setup_django(role: str = "panel") -> None:
    # settings.py configures logging as it is imported, here and in each process uvicorn
    # starts for --workers, which inherit our environment but none of our state: so the
    # role that names the log file (mailpanel-web.log) travels in the environment.
    os.environ[ROLE_ENV] = role
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")
    import django

    django.setup()


def _manage(*args: str, role: str = "panel") -> None:
    _setup_django(role)
    from django.core.management import call_command

    call_command(*args)


def web_server_options(host: str, port: int, workers: int = 1) -> dict[str, object]:
    """uvicorn's options for the panel (``mailpanel web`` and the tests that start it).

    Forwarded headers are read only behind a proxy and only from the proxies named; uvicorn
    then takes the right-most address that is not a trusted proxy, the one the proxy saw,
    never a value the client wrote at the left.
    """
    from django.conf import settings

    return {
        "host": host,
        "port": port,
        "workers": workers,
        "lifespan": "off",
        "proxy_headers": settings.BEHIND_PROXY,
        "forwarded_allow_ips": settings.TRUSTED_PROXIES if settings.BEHIND_PROXY else [],
        "server_header": False,
        # Our logging configuration (settings.py) stays, uvicorn's loggers included, and
        # the access line is RequestLogMiddleware's: uvicorn's would carry the raw path.
        "log_config": None,
        "access_log": False,
        "log_level": "info",
        "timeout_graceful_shutdown": 5,
    }


def cmd_web(opts: argparse.Namespace) -> int:
    _setup_django("web")
    import uvicorn

    options = web_server_options(opts.host, opts.port, opts.workers)
    uvicorn.run("mailpanel.asgi:application", **options)  # type: ignore[arg-type]
    return 0


def cmd_worker(_opts: argparse.Namespace) -> int:
    _manage("run_huey", role="worker")
    return 0


def _prepare() -> None:
    _manage("migrate", "--no-input", "-v", "0")
    from django.conf import settings

    if settings.PRODUCTION:
        _manage("collectstatic", "--no-input", "-v", "0")


def cmd_inbound(opts: argparse.Namespace) -> int:
    _setup_django("inbound")
    from mailpanel.inbound.receiver import ListenError, serve

    try:
        serve(opts.host, opts.port)
    except ListenError as exc:
        print(f"mailpanel inbound: {exc}. {INBOUND_PORT_HINT}", file=sys.stderr)
        return 1
    return 0


INBOUND_PORT_HINT = (
    "Stop what holds the port, or choose another with --port or MAILPANEL_INBOUND_PORT."
)


def _inbound_problem() -> str:
    """Why the embedded mode cannot receive mail, checked before the children start."""
    from django.conf import settings

    from mailpanel.inbound.receiver import port_problem

    return port_problem(settings.INBOUND_HOST, settings.INBOUND_PORT)


def cmd_serve(opts: argparse.Namespace) -> int:
    _prepare()
    from django.conf import settings

    exe = [sys.executable, "-m", "mailpanel.cli"]
    inbound_problem = _inbound_problem()
    if inbound_problem:
        print(f"mailpanel serve: the inbound mail receiver {inbound_problem}.", file=sys.stderr)
        print(f"  {INBOUND_PORT_HINT}", file=sys.stderr)
        if settings.PRODUCTION:
            return 1
        # Embedded: the panel is still useful (a second checkout, a test's own panel).
        print("  Running without it: mail to the panel's addresses is not received.\n")
    children = [
        subprocess.Popen([*exe, "worker"]),
        subprocess.Popen([*exe, "web", "--host", opts.host, "--port", str(opts.port)]),
    ]
    if not inbound_problem:
        children.append(subprocess.Popen([*exe, "inbound"]))
    print(_banner(opts.host, opts.port, receiving=not inbound_problem), flush=True)
    return _supervise(children)


def _banner(host: str, port: int, receiving: bool = False) -> str:
    from django.conf import settings

    inbound = (
        f"  Mail to {settings.PRIVACY_EMAIL} and {settings.SUPPORT_EMAIL} is received by SMTP\n"
        f"  on {settings.INBOUND_HOST}:{settings.INBOUND_PORT}.\n"
        if receiving
        else ""
    )
    return (
        f"\nMailPanel Pro is running at http://{host}:{port}/\n"
        "  Sign up in the browser; in the embedded mode the verification email is a file\n"
        "  in var/outbox/ (open it and follow the link).\n"
        f"{inbound}"
        "  First staff account: .venv/bin/mailpanel manage createsuperuser\n"
        "  Stop with Ctrl-C.\n"
    )


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    """Run until a child exits or we are told to stop; then stop the others."""
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        exited = [c for c in children if c.poll() is not None]
        if exited:
            code = exited[0].returncode or 1
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0 if stopping else code


def cmd_manage(opts: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["mailpanel manage", *opts.args])
    return 0


def cmd_lab(opts: argparse.Namespace) -> int:
    from lab.__main__ import main as lab_main

    return int(lab_main(opts.args) or 0)


def cmd_vault(opts: argparse.Namespace) -> int:
    _setup_django()
    from django.db import DatabaseError

    from mailpanel.vault.cli import main as vault_main

    try:
        return vault_main(opts.args)
    except DatabaseError as exc:
        print(
            f"mailpanel vault: the database is not ready ({exc}). Run `make run` once, or "
            "`mailpanel manage migrate`, first.",
            file=sys.stderr,
        )
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailpanel", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("serve", cmd_serve), ("web", cmd_web)):
        p = sub.add_parser(name)
        p.add_argument("--host", default=os.environ.get("MAILPANEL_HOST", DEFAULT_HOST))
        p.add_argument(
            "--port", type=int, default=int(os.environ.get("MAILPANEL_PORT", DEFAULT_PORT))
        )
        p.set_defaults(func=func)
    sub.choices["web"].add_argument("--workers", type=int, default=1)
    sub.add_parser("worker").set_defaults(func=cmd_worker)
    inbound = sub.add_parser("inbound", help="the SMTP receiver for privacy@ and support@")
    inbound.add_argument("--host", default=None, help="default: MAILPANEL_INBOUND_HOST")
    inbound.add_argument("--port", type=int, default=None, help="default: MAILPANEL_INBOUND_PORT")
    inbound.set_defaults(func=cmd_inbound)
    for name, func in (("manage", cmd_manage), ("lab", cmd_lab), ("vault", cmd_vault)):
        p = sub.add_parser(name, add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
    return parser


PASS_THROUGH = {"manage", "lab", "vault"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # A pass-through command's own options (``vault --help``) reach its own parser; a
    # REMAINDER argument alone would let argparse take a leading option as ours.
    opts, extra = parser.parse_known_args(argv)
    if extra and opts.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        opts.args = [*extra, *opts.args]
    return int(opts.func(opts))


if __name__ == "__main__":
    sys.exit(main())
