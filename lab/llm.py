"""A fake NVIDIA (OpenAI-compatible) LLM endpoint for tests and the lab.

In-process::

    with FakeLLM(keys={"nvapi-good"}) as llm:
        client = openai.OpenAI(base_url=llm.base_url, api_key="nvapi-good")
        llm.set_mode("rate_limit", retry_after=7)
        llm.requests  # every request: method, path, headers, json

Command line::

    python -m lab.llm --port 8400 --key nvapi-good --no-credit-key nvapi-broke --pace-ms 20

Error modes (`set_mode` or `POST /_lab/mode {"mode": ..., params}`): normal, rate_limit
(429 + retry-after), slow_first_token (first_token_delay s), cut_stream (drop the
connection after cut_after tokens), degraded (400), server_error (error_status, 500/503).
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import uvicorn

from lab.llm_app import NO_CREDITS, OK, LlmApp, LlmState

DEFAULT_MODELS = (
    "deepseek-ai/deepseek-v3-0324",
    "deepseek-ai/deepseek-r1",
    "meta/llama-3.1-8b-instruct",
)


class _DropCutStreamNoise(logging.Filter):
    # uvicorn logs an error when an app ends a response early; in cut_stream mode
    # that is the point, so keep the test output clean.
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


_CUT_STREAM_FILTER = _DropCutStreamNoise()


def key_table(
    keys: Iterable[str] | Mapping[str, str], no_credit_keys: Iterable[str]
) -> dict[str, str]:
    """Keys as {key: "ok" | "no_credits"}; a plain iterable means all keys are good."""
    table = dict(keys) if isinstance(keys, Mapping) else dict.fromkeys(keys, OK)
    table.update(dict.fromkeys(no_credit_keys, NO_CREDITS))
    bad = {v for v in table.values()} - {OK, NO_CREDITS}
    if bad:
        raise ValueError(f"key standing must be {OK!r} or {NO_CREDITS!r}, not {sorted(bad)}")
    return table


def bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    return sock


class FakeLLM:
    """The fake endpoint running uvicorn in a background thread."""

    def __init__(
        self,
        keys: Iterable[str] | Mapping[str, str] = ("nvapi-lab",),
        models: Iterable[str] = DEFAULT_MODELS,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pace_ms: float = 20.0,
        retired: Iterable[str] = (),
        no_credit_keys: Iterable[str] = (),
        public_models: bool = True,
    ) -> None:
        self.state = LlmState(
            keys=key_table(keys, no_credit_keys),
            models=list(models),
            retired=list(retired),
            pace_ms=pace_ms,
            public_models=public_models,
        )
        self.host, self.port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def mode(self) -> str:
        return self.state.mode

    def set_mode(self, mode: str, **params: Any) -> None:
        self.state.set_mode(mode, **params)

    def start(self) -> FakeLLM:
        sock = bound_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            LlmApp(self.state),
            lifespan="off",
            loop="asyncio",
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        logging.getLogger("uvicorn.error").addFilter(_CUT_STREAM_FILTER)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-llm", daemon=True
        )
        self._thread.start()
        self._wait_started(sock)
        return self

    def _wait_started(self, sock: socket.socket) -> None:
        deadline = time.monotonic() + 10
        while self._server is not None and not self._server.started:
            if time.monotonic() > deadline or not (self._thread and self._thread.is_alive()):
                sock.close()
                raise RuntimeError("fake LLM did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lab.llm", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--key", action="append", default=[], help="a valid key (repeatable)")
    parser.add_argument("--no-credit-key", action="append", default=[], help="key answered 403")
    parser.add_argument("--model", action="append", default=None, help="served model id")
    parser.add_argument("--retired", action="append", default=[], help="model id answered 410")
    parser.add_argument("--pace-ms", type=float, default=20.0)
    parser.add_argument("--mode", default="normal")
    parser.add_argument("--private-models", action="store_true", help="/v1/models needs a key")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state = LlmState(
        keys=key_table(args.key or ["nvapi-lab"], args.no_credit_key),
        models=args.model or list(DEFAULT_MODELS),
        retired=args.retired,
        pace_ms=args.pace_ms,
        public_models=not args.private_models,
    )
    state.set_mode(args.mode)
    logging.getLogger("uvicorn.error").addFilter(_CUT_STREAM_FILTER)
    uvicorn.run(LlmApp(state), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
