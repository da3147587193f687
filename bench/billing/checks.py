"""What the panel made of the deliveries, read from its database (the same SQLite file).

- applied exactly once: one WebhookEvent row per distinct event and none else, each with
  its account; every delivery answered 2xx in the end (a 503 delivered again); each
  event's second delivery answered "already applied" and its first not;
- final states: for every account, the subscription, status, plan, period end and
  cancel-at-period-end the panel shows are those the lab's API returns now for the
  account's latest subscription (plan: Free once it ended, else the plan of its price);
- besides: the card the panel shows (4242), the paid invoices it recorded, how far the
  order the panel applied the events in is from the order they were made, and the
  errors in the panel's own log.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import stripe

from bench.billing import PLAN_ID
from bench.billing.deliveries import Attempt, Planned
from bench.billing.state import Estate, Member, customer_of
from mailpanel.billing.models import BillingAccount, InvoiceRecord, WebhookEvent

ENDED = ("canceled", "incomplete_expired")
ALREADY = "already applied"


def applied_once(estate: Estate, planned: list[Planned], attempts: list[Attempt]) -> dict[str, Any]:
    rows = list(WebhookEvent.objects.values("event_id", "type", "account_id", "result"))
    distinct = {str(event["id"]) for event in estate.events}
    stored = Counter(row["event_id"] for row in rows)
    final = _final_attempts(attempts)
    answers: dict[str, list[str]] = defaultdict(list)
    for attempt in final:
        answers[attempt.event_id].append(attempt.text)
    deliveries = Counter(item.event_id for item in planned)
    wrong_replies = [
        event_id
        for event_id, texts in answers.items()
        if texts.count(ALREADY) != deliveries[event_id] - 1
    ]
    not_2xx = [a for a in final if not 200 <= a.status < 300]
    without_account = [row["event_id"] for row in rows if row["account_id"] is None]
    figures = {
        "webhook_event_rows": len(rows),
        "webhook_event_rows_distinct": len(stored),
        "webhook_event_rows_missing": len(distinct - set(stored)),
        "webhook_event_rows_extra": len(set(stored) - distinct),
        "webhook_event_rows_without_account": len(without_account),
        "deliveries_2xx": len(final) - len(not_2xx),
        "deliveries_not_2xx": len(not_2xx),
        "deliveries_not_2xx_by_status": dict(Counter(str(a.status) for a in not_2xx)),
        "deliveries_not_2xx_by_type": dict(Counter(a.type for a in not_2xx).most_common()),
        "events_never_applied": sorted(distinct - set(stored)),
        "redeliveries_after_503": sum(1 for a in attempts if a.attempt > 1),
        "answers_503": sum(1 for a in attempts if a.status == 503),
        "duplicates_answered_already_applied": sum(
            texts.count(ALREADY) for texts in answers.values()
        ),
        "events_with_wrong_replay_answers": wrong_replies,
        "answers": dict(Counter(_answer(a) for a in final).most_common()),
        "results_stored": dict(Counter(row["result"] for row in rows).most_common()),
    }
    figures["applied_exactly_once"] = (
        len(rows) == len(distinct)
        and set(stored) == distinct
        and max(stored.values(), default=1) == 1
        and not without_account
        and not not_2xx
        and not wrong_replies
        and len(final) == len(planned)
    )
    return figures


def _answer(attempt: Attempt) -> str:
    if 200 <= attempt.status < 300:
        return attempt.text
    text = attempt.text.strip()
    return f"HTTP {attempt.status}" + ("" if text.startswith("<") else f" {text[:80]}")


def applied_ids() -> set[str]:
    return set(WebhookEvent.objects.values_list("event_id", flat=True))


def _final_attempts(attempts: list[Attempt]) -> list[Attempt]:
    last: dict[int, Attempt] = {}
    for attempt in attempts:
        if attempt.position not in last or attempt.attempt > last[attempt.position].attempt:
            last[attempt.position] = attempt
    return [last[position] for position in sorted(last)]


def final_states(estate: Estate, client: stripe.StripeClient) -> dict[str, Any]:
    mismatches: list[dict[str, Any]] = []
    by_status: Counter[str] = Counter()
    cards_wrong, invoices_recorded, invoices_paid = 0, 0, 0
    for member in estate.members:
        sub = client.v1.subscriptions.retrieve(member.subscription).to_dict()
        account = BillingAccount.objects.get(pk=member.account.pk)
        expected = _expected(sub)
        shown = _shown(account)
        by_status[expected["status"]] += 1
        if shown != expected:
            diff = {k: {"panel": shown[k], "lab": v} for k, v in expected.items() if shown[k] != v}
            mismatches.append({"account": str(account.pk), "history": member.history, **diff})
        cards_wrong += account.card_last4 != "4242"
        invoices_paid += _paid_invoices(client, member)
        invoices_recorded += InvoiceRecord.objects.filter(owner=member.user).count()
    return {
        "final_states_correct": not mismatches,
        "final_state_mismatches": mismatches,
        "final_states_by_status": dict(sorted(by_status.items())),
        "cards_shown_correct": cards_wrong == 0,
        "invoices_paid_at_the_lab": invoices_paid,
        "invoices_recorded_by_the_panel": invoices_recorded,
    }


def _expected(sub: dict[str, Any]) -> dict[str, Any]:
    status = str(sub["status"])
    ends = sub.get("current_period_end") or max(
        item["current_period_end"] for item in sub["items"]["data"]
    )
    price = sub["items"]["data"][0]["price"]["id"]
    return {
        "subscription_id": str(sub["id"]),
        "status": status,
        "plan": "free" if status in ENDED else ("pro" if price == PLAN_ID else "?"),
        "current_period_end": int(ends),
        "cancel_at_period_end": bool(sub["cancel_at_period_end"]),
    }


def _shown(account: BillingAccount) -> dict[str, Any]:
    ends = account.current_period_end
    return {
        "subscription_id": account.subscription_id,
        "status": account.status,
        "plan": account.plan,
        "current_period_end": int(ends.timestamp()) if ends else None,
        "cancel_at_period_end": account.cancel_at_period_end,
    }


def _paid_invoices(client: stripe.StripeClient, member: Member) -> int:
    found = client.v1.invoices.list({"customer": member.account.customer_id, "limit": 100})
    return sum(1 for invoice in found.data if invoice.status == "paid")


def applied_out_of_place(estate: Estate) -> int:
    """The fewest applied events that, taken out, leave every account's events applied in
    the order they were made (per account: its count less its longest run in order, not
    necessarily adjacent). One event moved ahead of n others counts 1; a swap counts 2."""
    made = {str(event["id"]): n for n, event in enumerate(estate.events)}
    account_of = {str(event["id"]): customer_of(event) for event in estate.events}
    applied: dict[str, list[tuple[datetime, int, int]]] = defaultdict(list)
    for row in WebhookEvent.objects.values("event_id", "received_at", "pk"):
        event_id = row["event_id"]
        if event_id in made:
            at = row["received_at"] or datetime.min.replace(tzinfo=UTC)
            applied[account_of[event_id]].append((at, row["pk"], made[event_id]))
    return sum(
        len(rows) - _longest_increasing([m for _, _, m in sorted(rows)])
        for rows in applied.values()
    )


def _longest_increasing(values: list[int]) -> int:
    tails: list[int] = []
    for value in values:
        place = bisect.bisect_left(tails, value)
        tails[place : place + 1] = [value]
    return len(tails)


def panel_errors(log: Path) -> dict[str, int]:
    """The panel's own error lines (its JSON log), by the exception's last line."""
    found: Counter[str] = Counter()
    if not log.exists():
        return {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "critical"):
            lines = str(entry.get("exception") or entry.get("event") or "").strip().splitlines()
            found[lines[-1][:200] if lines else "?"] += 1
    return dict(found.most_common())
