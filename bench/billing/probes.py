"""Where a webhook's time goes, measured after the checks (they change nothing counted).

- the processor's API as the panel asks it: the lab's request log during the deliveries
  (calls per applied event, by endpoint), and one call timed as the panel makes it
  (``mailpanel.billing.client``: a new SDK client and connection each call);
- a webhook alone: fresh events (the portal's cancel/renew on live subscriptions), each
  delivered with nothing else in flight, so its time is the panel's handling alone;
- a replay alone: an event the panel applied already, delivered again (signature, one
  refused insert, no API call): the floor of the panel's handling.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from typing import Any

import httpx
import stripe

from bench.billing.checks import applied_ids
from bench.billing.deliveries import Attempt, deliver_one, plan
from bench.billing.state import Estate, handled_events, toggle
from lab.stripe_lab import StripeLab
from mailpanel.billing import client as panel_client

_ID = re.compile(r"/[a-z]{2,5}(?:_test)?_[A-Za-z0-9]{8,}")  # /cus_..., /cs_test_...


def api_calls(lab: StripeLab, attempts: list[Attempt], applied: int) -> dict[str, Any]:
    """The panel's calls to the lab while the deliveries ran."""
    first = min(a.started for a in attempts)
    last = max(a.ended for a in attempts)
    calls = [entry for entry in lab.requests() if first <= entry["time"] <= last]
    kinds = Counter(f"{entry['method']} {_ID.sub('/{id}', entry['path'])}" for entry in calls)
    return {
        "api_calls_during_deliveries": len(calls),
        "api_calls_per_applied_event": round(len(calls) / max(applied, 1), 2),
        "api_calls_by_endpoint": dict(kinds.most_common()),
    }


def api_round_trip(subscription_id: str, count: int) -> list[float]:
    """ms of ``retrieve_subscription`` as the panel makes it, one at a time."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        panel_client.retrieve_subscription(subscription_id)
        times.append((time.perf_counter() - started) * 1000)
    return times


def alone(
    lab: StripeLab, sdk: stripe.StripeClient, estate: Estate, url: str, secret: str, count: int
) -> tuple[dict[str, Any], list[float]]:
    """Fresh events delivered one at a time, then replays one at a time; and the former's ms."""
    live = [m for m in estate.members if not m.ended][:count]
    known = {str(event["id"]) for event in estate.events}
    for member in live:
        toggle(lab, sdk, member)
    fresh = [event for event in handled_events(lab) if str(event["id"]) not in known]
    new = plan(fresh, 0, 0, 0)
    applied = applied_ids()
    old = plan([e for e in estate.events if str(e["id"]) in applied][:count], 0, 0, 0)
    with httpx.Client(trust_env=False, timeout=60.0) as http:
        fresh_ones = [deliver_one(http, url, secret, n, item)[-1] for n, item in enumerate(new)]
        replayed = [deliver_one(http, url, secret, n, item)[-1] for n, item in enumerate(old)]
    figures = {
        "alone_events": len(fresh_ones),
        "alone_answers": dict(Counter(a.text for a in fresh_ones)),
        "alone_p50_ms": _pct(fresh_ones, 50),
        "alone_p95_ms": _pct(fresh_ones, 95),
        "replay_alone_answers": dict(Counter(a.text for a in replayed)),
        "replay_alone_p50_ms": _pct(replayed, 50),
        "replay_alone_p95_ms": _pct(replayed, 95),
    }
    return figures, [a.ms for a in fresh_ones]


def service_times(attempts: list[Attempt]) -> list[float]:
    """Each answer's share of the panel's time, the webhooks taken one at a time.

    Django's ASGI handler runs each request's view in a thread of its own, but on SQLite
    a webhook's transaction (``BEGIN IMMEDIATE``, the database's one write lock, held
    through the calls to the processor) lets one webhook at a time through: an answer's
    service time is from the later of its request and the previous answer to its own.
    """
    busy, previous = [], 0.0
    for attempt in sorted(attempts, key=lambda a: a.ended):
        busy.append((attempt.ended - max(attempt.started, previous)) * 1000)
        previous = attempt.ended
    return busy


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 1)


def _pct(attempts: list[Attempt], pct: int) -> float:
    return percentile([a.ms for a in attempts], pct)
