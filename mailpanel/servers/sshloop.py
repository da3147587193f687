"""One asyncio loop per worker process for all SSH work, with a pool of open connections.

Jobs run in worker threads and talk to the database; SSH work runs as coroutines on this
loop. The two meet through an event queue: coroutines emit events (log lines, progress,
per-server results), the job thread writes them to the database. Connections stay open
for ``IDLE_SECONDS`` so frequent fleet runs skip the handshake.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncssh

from mailpanel.jobs.context import JobCancelled, JobContext
from mailpanel.servers.ssh import Target, connect

T = TypeVar("T")
IDLE_SECONDS = 120.0
MAX_HANDSHAKES = 10  # below sshd's MaxStartups (10:30:100)


class _Loop:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name="ssh-loop", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.get())


ssh_loop = _Loop()


@dataclass
class _Pooled:
    conn: asyncssh.SSHClientConnection
    last_used: float


def _pool_key(target: Target) -> str:
    """Same server, same user, same credential and same pinned key: same connection."""
    material = "\x00".join(
        [
            target.host,
            str(target.port),
            target.username,
            target.pinned_host_key or "",
            target.private_key or "",
            target.password or "",
            target.sudo_password or "",
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


class ConnectionPool:
    """Lives on the SSH loop: only ever touched from coroutines running there."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._conns: dict[str, _Pooled] = {}
        self._handshakes: asyncio.Semaphore | None = None
        self._reaper: asyncio.Task[None] | None = None
        self.handshakes_done = 0

    async def get(self, target: Target) -> asyncssh.SSHClientConnection:
        key = _pool_key(target)
        pooled = self._conns.get(key)
        if pooled and not pooled.conn.is_closed():
            pooled.last_used = time.monotonic()
            return pooled.conn
        if self._handshakes is None:
            self._handshakes = asyncio.Semaphore(MAX_HANDSHAKES)
            self._reaper = asyncio.ensure_future(self._reap())
        async with self._handshakes:
            conn = await connect(target)
        self.handshakes_done += 1
        self._conns[key] = _Pooled(conn, time.monotonic())
        return conn

    def discard(self, target: Target) -> None:
        pooled = self._conns.pop(_pool_key(target), None)
        if pooled:
            pooled.conn.close()

    async def close_all(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        for pooled in conns:
            pooled.conn.close()
        for pooled in conns:
            await pooled.conn.wait_closed()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self.idle_seconds / 2))
            cutoff = time.monotonic() - self.idle_seconds
            for key, pooled in list(self._conns.items()):
                if pooled.last_used < cutoff or pooled.conn.is_closed():
                    del self._conns[key]
                    pooled.conn.close()


pool = ConnectionPool()


# --- the bridge between a job thread and the SSH loop ---------------------------------

Event = tuple[str, tuple[Any, ...]]
Handler = Callable[..., None]


class EventSink:
    """Handed to coroutines: thread-safe, never touches the database itself."""

    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def emit(self, kind: str, *args: Any) -> None:
        self.events.put((kind, args))

    def log(self, text: str, level: str = "info") -> None:
        self.emit("log", text, level)

    def progress(self, percent: int, status: str = "") -> None:
        self.emit("progress", percent, status)


def run_on_ssh_loop(
    ctx: JobContext,
    make: Callable[[EventSink], Coroutine[Any, Any, T]],
    handlers: dict[str, Handler] | None = None,
    after_batch: Callable[[], None] | None = None,
) -> T:
    """Run a coroutine on the SSH loop while this job thread writes its events.

    ``after_batch`` runs after each batch of events, so handlers may buffer and write a
    whole batch in one transaction.
    """
    sink = EventSink()
    routes: dict[str, Handler] = {
        "log": lambda text, level: ctx.log(text, level),
        "progress": lambda percent, status: ctx.progress(percent, status),
        **(handlers or {}),
    }
    future = ssh_loop.submit(make(sink))
    try:
        while True:
            _drain(sink, routes, block=not future.done())
            if after_batch:
                after_batch()
            if future.done() and sink.events.empty():
                return future.result()
            ctx.check_cancelled()
    except JobCancelled:
        future.cancel()
        raise
    finally:
        if not future.done():
            future.cancel()


def _drain(sink: EventSink, routes: dict[str, Handler], block: bool) -> None:
    try:
        kind, args = sink.events.get(timeout=0.1) if block else sink.events.get_nowait()
    except queue.Empty:
        return
    routes[kind](*args)
    while True:
        try:
            kind, args = sink.events.get_nowait()
        except queue.Empty:
            return
        routes[kind](*args)
