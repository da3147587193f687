"""Plan, then apply: the changes that take a zone from what it holds to what the domain wants.

Pure functions. Only records inside the desired set's scopes are compared; everything else
in the zone is left alone. A plan that would update or delete more than `SAFETY_SHARE` of a
zone of at least `SAFETY_MIN_RECORDS` records is refused unless forced (octoDNS's rule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailpanel.dns.desired import DesiredSet, Published, Refusal, Wanted
from mailpanel.dns.types import Action, Change, Record

SAFETY_SHARE = 0.30
SAFETY_MIN_RECORDS = 10
TtlRule = Callable[[int], tuple[int, str | None]]


@dataclass(frozen=True)
class PlannedChange:
    change: Change
    kind: str  # the scope kind: spf, dkim, ...

    @property
    def action(self) -> Action:
        return self.change.action

    @property
    def record(self) -> Record:
        found = self.change.after or self.change.before
        assert found is not None
        return found


@dataclass
class Plan:
    zone: str
    changes: list[PlannedChange] = field(default_factory=list)
    wanted: list[Wanted] = field(default_factory=list)  # TTLs as the provider stores them
    notes: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    existing_count: int = 0
    forced: bool = False
    ours: Published = field(default_factory=Published)  # the panel's, once applied

    @property
    def counts(self) -> dict[str, int]:
        return {a.value: sum(1 for c in self.changes if c.action is a) for a in Action}

    @property
    def blocked(self) -> bool:
        """Refused: by a rule that cannot be forced, or by a forceable one without force."""
        return any(not r.forceable or not self.forced for r in self.refusals)

    @property
    def provider_changes(self) -> list[Change]:
        return [c.change for c in self.changes]

    def only(self, *kinds: str) -> Plan:
        """The same plan restricted to some kinds of record (a rotation touches DKIM only)."""
        narrowed = dataclasses.replace(
            self,
            changes=[c for c in self.changes if c.kind in kinds],
            wanted=[w for w in self.wanted if w.kind in kinds],
            refusals=[r for r in self.refusals if not r.forceable],
        )
        _check_share(narrowed)  # the safety rule judges what will really be sent
        return narrowed


def make_plan(
    desired: DesiredSet,
    existing: Sequence[Record],
    normalize_ttl: TtlRule,
    *,
    zone: str,
    forced: bool = False,
) -> Plan:
    plan = Plan(zone, existing_count=len(existing), forced=forced, ours=desired.ours)
    plan.notes.extend(desired.notes)
    plan.refusals.extend(desired.refusals)
    plan.wanted = _provider_ttls(desired.wanted, normalize_ttl, plan.notes)
    for scope in dict.fromkeys(desired.scopes):  # in order, each once
        have = [r for r in existing if scope.covers(r)]
        want = [w.record for w in plan.wanted if scope.covers(w.record)]
        plan.changes.extend(PlannedChange(c, scope.kind) for c in diff(have, want))
    _check_share(plan)
    return plan


def _provider_ttls(wanted: list[Wanted], rule: TtlRule, notes: list[str]) -> list[Wanted]:
    adjusted = []
    for item in wanted:
        ttl, note = rule(item.record.ttl)
        if note and note not in notes:
            notes.append(note)
        adjusted.append(Wanted(dataclasses.replace(item.record, ttl=ttl), item.kind))
    return adjusted


def diff(have: Sequence[Record], want: Sequence[Record]) -> list[Change]:
    """Creates, updates and deletes between two lists of one name and type."""
    have, want = list(have), list(want)
    for record in list(want):  # identical records need nothing
        match = next((h for h in have if h.same_data(record)), None)
        if match is not None:
            have.remove(match)
            want.remove(record)
    changes: list[Change] = []
    # Same value with another TTL or priority first, so an update changes the least.
    for record in list(want):
        match = next((h for h in have if h.content == record.content), None)
        if match is not None:
            have.remove(match)
            want.remove(record)
            changes.append(Change(Action.UPDATE, before=match, after=record))
    for before, after in zip(have, want, strict=False):
        changes.append(Change(Action.UPDATE, before=before, after=after))
    paired = min(len(have), len(want))
    changes += [Change(Action.CREATE, after=r) for r in want[paired:]]
    changes += [Change(Action.DELETE, before=r) for r in have[paired:]]
    return changes


def _check_share(plan: Plan) -> None:
    touched = sum(1 for c in plan.changes if c.action is not Action.CREATE)
    total = plan.existing_count
    if total >= SAFETY_MIN_RECORDS and touched > SAFETY_SHARE * total:
        plan.refusals.append(
            Refusal(
                f"this plan would update or delete {touched} of the zone's {total} records "
                f"(more than {SAFETY_SHARE:.0%}): check the zone is the right one, then force it "
                "if you mean it",
                forceable=True,
            )
        )


def within(live: Plan, reviewed: Plan) -> bool:
    """Whether every change of `live` is one the owner reviewed (a finished part drops out)."""
    return all(any(_same(c.change, r.change) for r in reviewed.changes) for c in live.changes)


def _same(a: Change, b: Change) -> bool:
    def same(x: Record | None, y: Record | None) -> bool:
        return x is y is None or (x is not None and y is not None and x.same_data(y))

    return a.action is b.action and same(a.before, b.before) and same(a.after, b.after)


# -- JSON, as plans are stored and shown -------------------------------------------------------


def record_json(record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "name": record.name,
        "type": record.type,
        "content": record.content,
        "ttl": record.ttl,
        "priority": record.priority,
    }


def record_from(data: dict[str, Any] | None) -> Record | None:
    if data is None:
        return None
    return Record(
        str(data["name"]),
        str(data["type"]),
        str(data["content"]),
        int(data["ttl"]),
        None if data.get("priority") is None else int(data["priority"]),
    )


def to_json(plan: Plan) -> dict[str, Any]:
    return {
        "zone": plan.zone,
        "changes": [
            {
                "action": c.action.value,
                "kind": c.kind,
                "before": record_json(c.change.before),
                "after": record_json(c.change.after),
            }
            for c in plan.changes
        ],
        "wanted": [{"kind": w.kind, "record": record_json(w.record)} for w in plan.wanted],
        "notes": plan.notes,
        "refusals": [{"reason": r.reason, "forceable": r.forceable} for r in plan.refusals],
        "existing_count": plan.existing_count,
        "forced": plan.forced,
        "counts": plan.counts,
        "published": plan.ours.to_json(),
    }


def from_json(data: dict[str, Any]) -> Plan:
    changes = [
        PlannedChange(
            Change(Action(c["action"]), record_from(c["before"]), record_from(c["after"])),
            str(c["kind"]),
        )
        for c in data.get("changes", [])
    ]
    wanted = [Wanted(record_from(w["record"]), str(w["kind"])) for w in data.get("wanted", [])]  # type: ignore[arg-type]
    return Plan(
        zone=str(data.get("zone", "")),
        changes=changes,
        wanted=wanted,
        notes=[str(n) for n in data.get("notes", [])],
        refusals=[
            Refusal(str(r["reason"]), bool(r["forceable"])) for r in data.get("refusals", [])
        ],
        existing_count=int(data.get("existing_count", 0)),
        forced=bool(data.get("forced", False)),
        ours=Published.from_json(data.get("published")),
    )
