"""The provider base's bounded runner: writes side by side, the first failure in time wins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from mailpanel.dns.providers.base import run_bounded


async def test_the_error_that_happened_first_is_raised_and_later_jobs_are_skipped() -> None:
    started: list[str] = []

    def job(name: str, delay: float, error: str = "") -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started.append(name)
            await asyncio.sleep(delay)
            if error:
                raise RuntimeError(error)

        return run

    jobs = [job("slow", 0.2, "slow failed"), job("fast", 0.01, "fast failed"), job("late", 0)]
    with pytest.raises(RuntimeError, match="fast failed"):
        await run_bounded(jobs, limit=2)
    assert started == ["slow", "fast"]  # "late" waited for a slot, then saw the failure


async def test_every_job_runs_when_none_fails() -> None:
    done: list[int] = []

    def job(number: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await asyncio.sleep(0)
            done.append(number)

        return run

    await run_bounded([job(n) for n in range(10)], limit=3)
    assert sorted(done) == list(range(10))
