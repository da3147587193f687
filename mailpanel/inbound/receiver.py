"""The SMTP receiver for the panel's own addresses (``mailpanel inbound``).

It sits behind the operator's MX, which relays mail for privacy@ and support@ (and the
bounce addresses of the panel's notices) to it. Only those recipients are accepted (550 for
any other, and for a bounce address whose MAC is wrong), a message over INBOUND_MAX_BYTES gets
552, and 250 is answered only once the message is on disk and in the database, so nothing
the sender was told we have is lost. A storage failure answers 451 and the sender retries.

In-process (tests, and other apps' end-to-end tests)::

    with running_receiver() as receiver:          # 127.0.0.1, an ephemeral port
        smtplib.SMTP(receiver.host, receiver.port).sendmail(...)
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

from mailpanel.inbound.routing import is_ours, our_addresses
from mailpanel.inbound.store import Stored, store_message

log = logging.getLogger(__name__)
T = TypeVar("T")


class ListenError(Exception):
    """The receiver could not bind its address (the port is taken, or not ours to use)."""


class InboundHandler:
    """aiosmtpd's handler: our recipients only, and a message stored before the 250."""

    async def handle_RCPT(  # aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not is_ours(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        try:
            # Parsing and the database block: a thread of their own, never the event loop.
            await sync_to_async(_store, thread_sensitive=True)(
                raw, envelope.mail_from or "", list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("inbound: could not store a message; answered 451")
            return "451 4.3.0 Could not store the message now, please try again later"
        return "250 2.0.0 Message accepted"


def _store(raw: bytes, mail_from: str, rcpt_to: list[str]) -> Stored:
    # This thread lives as long as the receiver: drop a connection that broke or aged.
    close_old_connections()
    try:
        return store_message(raw, mail_from, rcpt_to)
    finally:
        close_old_connections()


class InboundReceiver:
    """The receiver on ``host:port``; port 0 takes an ephemeral one, read ``.port`` after."""

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        self.host = settings.INBOUND_HOST if host is None else host
        self.port = settings.INBOUND_PORT if port is None else port
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        return SMTP(
            InboundHandler(),
            hostname=settings.MAIL_DOMAIN,  # not getfqdn(): no DNS lookup at start
            ident="MailPanel inbound",
            data_size_limit=settings.INBOUND_MAX_BYTES,
            enable_SMTPUTF8=True,
        )

    async def start_async(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._protocol, self.host, self.port)
        except OSError as exc:
            raise ListenError(f"cannot listen on {self.host}:{self.port}: {_reason(exc)}") from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("inbound: listening on %s:%s", self.host, self.port)

    async def stop_async(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        # The database thread's connections, so a test database can be dropped after us.
        await sync_to_async(connections.close_all, thread_sensitive=True)()


def port_problem(host: str, port: int) -> str:
    """Why ``host:port`` cannot be listened on, or "" when it can (checked by binding)."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
            sock.bind(address)
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {_reason(exc)}"
    return ""


def _reason(exc: OSError) -> str:
    # asyncio rewrites strerror into a sentence of its own; the errno's text is plainer.
    return os.strerror(exc.errno) if exc.errno else str(exc)


# --- in a background thread (tests) -----------------------------------------------


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="inbound-smtp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(_cancel_other_tasks())  # open SMTP sessions
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _cancel_other_tasks() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def running_receiver(host: str = "127.0.0.1", port: int = 0) -> Iterator[InboundReceiver]:
    """The receiver served from a background thread; yields it with ``.host`` and ``.port``.

    Settings (INBOUND_MAX_BYTES, the addresses) are read when it starts and per message,
    so change them before entering. Tests that use it need
    ``@pytest.mark.django_db(transaction=True)``: the rows are written from another thread.
    """
    receiver = InboundReceiver(host, port)
    loop = _LoopThread()
    try:
        loop.call(receiver.start_async())
    except BaseException:
        loop.stop()
        raise
    try:
        yield receiver
    finally:
        loop.call(receiver.stop_async())
        loop.stop()


# --- the command line ---------------------------------------------------------


def serve(host: str | None = None, port: int | None = None) -> None:
    """Run the receiver until SIGTERM or SIGINT; raises :class:`ListenError` if it cannot bind."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    asyncio.run(_serve_until_signalled(InboundReceiver(host, port)))


async def _serve_until_signalled(receiver: InboundReceiver) -> None:
    await receiver.start_async()
    print(
        f"mailpanel inbound: receiving mail for {', '.join(sorted(our_addresses()))} "
        f"on {receiver.host}:{receiver.port}",
        flush=True,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await receiver.stop_async()
