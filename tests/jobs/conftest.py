from __future__ import annotations

from collections.abc import Iterator

import pytest
from huey.api import Huey
from huey.contrib.djhuey import HUEY


@pytest.fixture
def queue() -> Iterator[Huey]:
    """The real configured queue (SQLite file, or Redis on the PostgreSQL run), emptied."""
    HUEY.flush()
    yield HUEY
    HUEY.flush()


def drain(queue: Huey) -> int:
    """Do what a worker does: take each task off the queue and execute it."""
    done = 0
    while (task := queue.dequeue()) is not None:
        queue.execute(task)
        done += 1
    return done
