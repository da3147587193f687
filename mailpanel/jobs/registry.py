"""Job kinds: a name, a title for people, and the function that does the work.

A kind run for several reasons (a converge: to provision, to sign for a new domain...) names
them in `purposes`: the job's `purpose` parameter picks the title, whose `{fields}` are
filled from the job's parameters, so each job reads as what it was started for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailpanel.jobs.context import JobContext

JobFunction = Callable[["JobContext"], None]


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    run: JobFunction
    purposes: Mapping[str, str] = field(default_factory=dict)  # purpose -> title template
    # The user's own rights (an export of their data) run even while they paused processing.
    runs_while_paused: bool = False


KINDS: dict[str, JobKind] = {}


def job_kind(
    name: str,
    title: str,
    purposes: Mapping[str, str] | None = None,
    *,
    runs_while_paused: bool = False,
) -> Callable[[JobFunction], JobFunction]:
    def register(func: JobFunction) -> JobFunction:
        if name in KINDS:
            raise ValueError(f"job kind {name!r} registered twice")
        KINDS[name] = JobKind(
            name=name,
            title=title,
            run=func,
            purposes=dict(purposes or {}),
            runs_while_paused=runs_while_paused,
        )
        return func

    return register


def title_of(kind: str, params: Mapping[str, object] | None = None) -> str:
    """The job's title for people: its purpose's when it has one, else its kind's."""
    found = KINDS.get(kind)
    if found is None:
        return kind
    values = {key: str(value) for key, value in (params or {}).items()}
    template = found.purposes.get(values.get("purpose", ""))
    if template is None:
        return found.title
    try:
        return template.format_map(values)
    except (KeyError, ValueError):  # a job of an older shape, without the field
        return found.title


def check_purpose(kind: str, params: Mapping[str, object]) -> None:
    """A purpose must be one the kind names (a typo would show the kind's title silently)."""
    purpose = params.get("purpose")
    if purpose is not None and purpose not in KINDS[kind].purposes:
        raise ValueError(f"job kind {kind!r} has no purpose {purpose!r}")
