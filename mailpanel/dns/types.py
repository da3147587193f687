"""The provider-neutral shape of DNS data that plans and providers exchange.

Names are absolute, lowercase, A-label, without the trailing dot. TXT content is the
logical value (strings joined, no quotes); providers quote or split it as their wire
format needs. MX/CNAME/NS targets carry no trailing dot.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Zone:
    id: str
    name: str


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    content: str
    ttl: int
    priority: int | None = None
    # The provider's own id of an existing record (Cloudflare, Name.com); None otherwise.
    provider_id: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.type)

    def same_data(self, other: Record) -> bool:
        """Equal as DNS data (ignores provider ids)."""
        return (self.name, self.type, self.content, self.ttl, self.priority) == (
            other.name,
            other.type,
            other.content,
            other.ttl,
            other.priority,
        )


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    action: Action
    before: Record | None = None
    after: Record | None = None

    def __post_init__(self) -> None:
        wanted = {
            Action.CREATE: (False, True),
            Action.UPDATE: (True, True),
            Action.DELETE: (True, False),
        }[self.action]
        if (self.before is not None, self.after is not None) != wanted:
            raise ValueError(f"{self.action} change has the wrong before/after")


@dataclass(frozen=True)
class ApplyResult:
    changes: int
    write_calls: int
    read_calls: int = 0


class ErrorKind(enum.StrEnum):
    AUTH = "auth"
    NOT_FOUND = "not_found"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    VALIDATION = "validation"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


class ProviderError(Exception):
    """A provider said no. ``provider_message`` is the provider's own words; ``hint`` what to do."""

    def __init__(
        self, kind: ErrorKind, provider_message: str, hint: str = "", status: int | None = None
    ) -> None:
        super().__init__(f"{provider_message}" + (f" ({hint})" if hint else ""))
        self.kind = kind
        self.provider_message = provider_message
        self.hint = hint
        self.status = status
