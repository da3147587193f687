"""The live log stream (server-sent events) served by the ASGI app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse

from mailpanel.accounts.models import User
from mailpanel.jobs.models import Job, JobLogLine, JobState
from tests.helpers import streamed


@pytest.fixture(autouse=True)
async def close_thread_connections() -> AsyncIterator[None]:
    """The async ORM runs in a helper thread; close its connection so teardown can drop the DB."""
    yield
    await sync_to_async(connections.close_all)()


def parse_events(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def read_stream(client: AsyncClient, url: str, headers: dict[str, str] | None = None) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    chunks = [chunk async for chunk in streamed(response)]
    return b"".join(chunks).decode()


@pytest.mark.django_db(transaction=True)
async def test_the_stream_sends_lines_after_the_given_one_then_state_then_end(user: User) -> None:
    job = await Job.objects.acreate(
        owner=user, kind="selftest", state=JobState.SUCCEEDED, progress=100
    )
    for seq in range(1, 4):
        await JobLogLine.objects.acreate(job=job, seq=seq, text=f"line {seq}")
    client = AsyncClient()
    await client.aforce_login(user)

    body = await read_stream(client, reverse("job_events", args=[job.pk]) + "?after=1")

    events = parse_events(body)
    assert [e for e, _ in events] == ["line", "line", "state", "end"]
    assert [d["text"] for e, d in events if e == "line"] == ["line 2", "line 3"]
    assert events[2][1]["state"] == "succeeded" and events[2][1]["progress"] == 100
    assert "id: 3\n" in body


@pytest.mark.django_db(transaction=True)
async def test_the_stream_resumes_from_last_event_id(user: User) -> None:
    job = await Job.objects.acreate(owner=user, kind="selftest", state=JobState.FAILED)
    for seq in range(1, 6):
        await JobLogLine.objects.acreate(job=job, seq=seq, text=f"line {seq}")
    client = AsyncClient()
    await client.aforce_login(user)

    body = await read_stream(
        client, reverse("job_events", args=[job.pk]), headers={"Last-Event-ID": "4"}
    )

    assert [d["text"] for e, d in parse_events(body) if e == "line"] == ["line 5"]
