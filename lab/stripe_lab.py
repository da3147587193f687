"""The lab's payment processor: localstripe in a process of its own, behind the lab's front.

In a test (the panel's ``STRIPE_API_BASE`` setting gets ``lab.api_base``)::

    with StripeLab(tmp_path / "stripe-requests.jsonl") as lab:
        lab.create_plan("pro-monthly", 900)
        lab.register_webhook("http://127.0.0.1:8123/billing/webhook", "whsec_lab")
        client = stripe.StripeClient(lab.api_key, base_addresses={"api": lab.api_base})
        ...  # the panel makes a Checkout Session; the test's browser pays on its /pay page
        lab.fail_payment(subscription_id)  # the next invoice fails: past_due
        lab.requests()  # what the panel sent

Command line (the ``stripe`` peer of ``python -m lab up``)::

    python -m lab.stripe_lab --port 18805 --localstripe-port 18806 --log run/stripe.jsonl

Test cards on the /pay page: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined
(402, nothing made); 4000 0000 0000 0341 is accepted but its charge fails (the
subscription stays ``incomplete``, its invoice ``open``, ``invoice.payment_failed`` is sent;
paying again with a good card completes the same session and subscription).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from lab.peers import TAG
from lab.stripe_account import StripeAccount
from lab.stripe_front import (
    JSON,
    StripeError,
    Upstream,
    read_log,
)

# localstripe binds every interface ("::"); the lab listens on loopback only, so its app
# runs on 127.0.0.1 here, in its own process (GPL: the lab never imports it itself). It
# dies with the process that started it, even one killed with SIGKILL (PR_SET_PDEATHSIG),
# and tells that process its port. Its state starts empty (localstripe's --from-scratch).
_LOCALSTRIPE_MAIN = """
import ctypes, os, signal, socket, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
if os.getppid() != int(sys.argv[2]):
    sys.exit("localstripe: the lab process that started it is gone")
from aiohttp import web
from localstripe.server import app
sock = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print(sock.getsockname()[1], flush=True)
web.run_app(app, sock=sock, print=None, access_log=None)
"""


def requests(log_path: Path | str) -> list[JSON]:
    """The request log: what the panel sent (time, method, path, flat bracket-key params)."""
    return read_log(log_path)


class StripeLabError(RuntimeError):
    """localstripe did not start, or a lab control was refused."""


# --- the lab: localstripe's process and the front ------------------------------------


class StripeLab:
    """localstripe (a subprocess) behind the front (a thread of this process), on loopback.

    Start it from a thread that lives as long as the lab: localstripe dies with that thread.
    """

    def __init__(
        self,
        log_path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        localstripe_port: int = 0,
    ) -> None:
        self.log_path = Path(log_path)
        self.host, self.port, self.localstripe_port = host, port, localstripe_port
        self.api_key = "sk_test_" + secrets.token_hex(24)  # localstripe takes any sk_ key
        self._process: subprocess.Popen[bytes] | None = None
        self._account: StripeAccount | None = None

    @property
    def api_base(self) -> str:
        """The front's URL: what ``stripe.api_base`` (the panel's STRIPE_API_BASE) gets."""
        if self._account is None:
            raise StripeLabError("the Stripe lab is not running")
        return self._account.url

    @property
    def localstripe_url(self) -> str:
        return f"http://127.0.0.1:{self.localstripe_port}"

    @property
    def localstripe_pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> StripeLab:
        try:
            self._start_localstripe()
            self._account = StripeAccount(self.localstripe_port, self.log_path)
            self._account.start(self.host, self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._account is not None:
            self._account.stop()
            self._account = None
        if self._process is not None:
            _end(self._process)
            self._process = None

    def __enter__(self) -> StripeLab:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- controls, over HTTP as from any other process ---------------------------------

    def flush(self) -> None:
        """Empty localstripe, the sessions, the events and the request log (keeps webhooks)."""
        self._control("POST", "/_lab/flush")

    def register_webhook(self, url: str, secret: str, events: Iterable[str] | None = None) -> str:
        body = {"url": url, "secret": secret, "events": None if events is None else list(events)}
        return str(self._control("POST", "/_lab/webhooks", body)["id"])

    def forget_webhooks(self) -> None:
        """No webhook is registered any more (deliveries under way finish first)."""
        self._control("DELETE", "/_lab/webhooks")

    def create_plan(
        self,
        id: str,
        amount: int,
        currency: str = "eur",
        interval: str = "month",
        name: str | None = None,
    ) -> JSON:
        body = {
            "id": id,
            "amount": amount,
            "currency": currency,
            "interval": interval,
            "name": name or id,
        }
        plan: JSON = self._control("POST", "/_lab/plans", body)
        return plan

    def end_period(self, subscription_id: str) -> JSON:
        """``{"ended": bool, "subscription": ...}``: ended when it was to cancel at period end."""
        result: JSON = self._control("POST", "/_lab/end_period", {"subscription": subscription_id})
        return result

    def fail_payment(self, subscription_id: str) -> JSON:
        """``{"subscription": ... past_due, "invoice": ... open}``, and the two events sent."""
        body = {"subscription": subscription_id}
        result: JSON = self._control("POST", "/_lab/fail_payment", body)
        return result

    def resend(self, event_id: str) -> list[JSON]:
        deliveries: list[JSON] = self._control("POST", "/_lab/resend", {"event": event_id})[
            "deliveries"
        ]
        return deliveries

    def events(self) -> list[JSON]:
        """Every event sent since the last flush: id, type, source, event, deliveries."""
        listing: list[JSON] = self._control("GET", "/_lab/events")["data"]
        return listing

    def requests(self) -> list[JSON]:
        return requests(self.log_path)

    def _control(self, method: str, path: str, body: JSON | None = None) -> Any:
        port = int(self.api_base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body)
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read() or b"null")
        finally:
            conn.close()
        if response.status >= 400:
            raise StripeLabError(f"{path}: {data['error']['message']}")
        return data

    # --- localstripe's process -----------------------------------------------------------

    def _start_localstripe(self, timeout: float = 15.0) -> None:
        log_path = self.log_path.with_name(self.log_path.stem + "-localstripe.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-c",
            _LOCALSTRIPE_MAIN,
            str(self.localstripe_port),
            str(os.getpid()),
        ]
        # Untagged: lab teardown counts the peers it started, and this one ends with its front.
        env = {name: value for name, value in os.environ.items() if name != TAG}
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        self.localstripe_port = self._read_port(self._process, log_path, timeout)
        self._wait_answering(self._process, log_path, time.monotonic() + timeout)

    @staticmethod
    def _read_port(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise StripeLabError(f"localstripe did not start: {_tail(log_path)}")
        return int(line)

    def _wait_answering(
        self, process: subprocess.Popen[bytes], log_path: Path, deadline: float
    ) -> None:
        upstream = Upstream(self.localstripe_port, timeout=2)
        while True:
            with contextlib.suppress(OSError, StripeError):
                upstream.call("GET", "/v1/events", {"limit": "1"})
                return
            if process.poll() is not None or time.monotonic() > deadline:
                raise StripeLabError(f"localstripe does not answer: {_tail(log_path)}")
            time.sleep(0.05)


def _end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM localstripe's process group, SIGKILL it if it lingers; reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
            break
    if process.stdout is not None:
        process.stdout.close()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="the front's (0: a free one)")
    parser.add_argument("--localstripe-port", type=int, default=0)
    parser.add_argument("--log", type=Path, required=True, help="the request log (JSON lines)")
    parser.add_argument("--webhook", default="", help="a URL to deliver every event to")
    parser.add_argument(
        "--webhook-secret", default="", help="the secret its deliveries are signed with"
    )
    parser.add_argument(
        "--plan", action="append", default=[], help="PRICE_ID:AMOUNT:NAME, made at start"
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    lab = StripeLab(args.log, args.host, args.port, args.localstripe_port).start()
    try:
        for plan in args.plan:
            price, amount, name = plan.split(":", 2)
            lab.create_plan(price, int(amount), name=name)
        if args.webhook:
            lab.register_webhook(args.webhook, args.webhook_secret)
        print(
            f"stripe lab listening on {lab.api_base} (localstripe pid {lab.localstripe_pid}"
            f" on {lab.localstripe_url}); request log {lab.log_path}",
            flush=True,
        )
        while not stopping.wait(0.5):
            pass
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
