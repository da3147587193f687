"""Job kinds: a name, a title for people, and the function that does the work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailpanel.jobs.context import JobContext

JobFunction = Callable[["JobContext"], None]


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    run: JobFunction


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, title: str) -> Callable[[JobFunction], JobFunction]:
    def register(func: JobFunction) -> JobFunction:
        if name in KINDS:
            raise ValueError(f"job kind {name!r} registered twice")
        KINDS[name] = JobKind(name=name, title=title, run=func)
        return func

    return register


def title_of(kind: str) -> str:
    found = KINDS.get(kind)
    return found.title if found else kind
