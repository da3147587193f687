"""Assistant fixtures: the lab's fake NVIDIA endpoint on loopback, keys, a chosen profile."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.db import connections
from django.test import Client
from django.utils import timezone

from lab.llm import FakeLLM
from mailpanel.accounts.models import User
from mailpanel.assistant import llm as llm_client
from mailpanel.assistant.models import AssistantProfile
from mailpanel.vault.actions import create_credential
from mailpanel.vault.models import Credential

KEY = "nvapi-OwnersOwnKey_0123456789abcdef"
OTHER_KEY = "nvapi-OtherTenantKey_0123456789abcd"
BROKE_KEY = "nvapi-NoCreditsLeft_0123456789abcde"
UNKNOWN_KEY = "nvapi-RevokedOrMistyped_0123456789ab"
MODEL = "deepseek-ai/deepseek-v3-0324"
RETIRED = "deepseek-ai/deepseek-coder-6.7b-instruct"


@pytest.fixture(scope="session")
def running_llm() -> Iterator[FakeLLM]:
    # UNKNOWN_KEY is known to nobody: the fake answers it 401, as NVIDIA does.
    with FakeLLM(keys={KEY, OTHER_KEY}, no_credit_keys={BROKE_KEY}, retired=[RETIRED]) as fake:
        yield fake


@pytest.fixture
def fake_llm(running_llm: FakeLLM, settings: Any) -> FakeLLM:
    """The shared fake in normal mode, fast, with an empty log; the panel pointed at it."""
    running_llm.set_mode("normal")
    running_llm.state.pace_ms = 2
    running_llm.requests.clear()
    settings.NVIDIA_API_URL = running_llm.base_url
    settings.NVIDIA_MODEL = MODEL
    return running_llm


def add_key(user: User, key: str = KEY, label: str = "my NVIDIA key") -> Credential:
    return create_credential(user, "nvidia", label, {"api_key": key})


def choose(user: User, key: str = KEY, model: str = MODEL) -> AssistantProfile:
    credential = add_key(user, key)
    return AssistantProfile.objects.create(
        owner=user, credential=credential, model_id=model, checked_at=timezone.now()
    )


@pytest.fixture
def profile(user: User) -> AssistantProfile:
    return choose(user)


def chat_requests(fake: FakeLLM) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["path"] == "/v1/chat/completions"]


def parse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.fixture
async def async_cleanup() -> AsyncIterator[None]:
    """Close what an async test's event loop opened: the HTTP pool and DB connections."""
    yield
    await llm_client.close_pool()
    await sync_to_async(connections.close_all)()


@dataclass
class LivePanel:
    url: str

    def login_cookie(self, user: User) -> dict[str, str]:
        client = Client()
        client.force_login(user)
        return {name: morsel.value for name, morsel in client.cookies.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_panel(transactional_db: None) -> Iterator[LivePanel]:
    """The panel's ASGI app under uvicorn on loopback, as in production, in this process.

    Needed where only a real server shows the behaviour: a reader that goes away.
    """
    port = _free_port()
    config = uvicorn.Config(
        get_asgi_application(),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-panel", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the panel did not start"
        time.sleep(0.01)
    yield LivePanel(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    connections.close_all()
