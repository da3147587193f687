"""The order the events are delivered in, and the senders that deliver them.

The order: the lab's events as they were made; then, for ``out_of_order`` accounts, the
account's last ``customer.subscription.*`` event and its first
``checkout.session.completed`` change places (the later news comes first, an update or a
deletion before the checkout that began it all); then ``duplicates`` events are delivered
a second time, half right after the first delivery (both in flight at once) and half at a
random later place (a retry or a replay). Seeded: the same seed, the same order.

The senders: ``senders`` threads, each with its own HTTP connection, take the next
delivery in order and POST it with a fresh ``Stripe-Signature`` made as Stripe makes it.
A 503 (the panel's "could not ask the processor; deliver again") or a connection failure
is delivered again, as Stripe would, up to MAX_ATTEMPTS times; any other answer, a 500
included, is final here (Stripe retries those too, but hours later): it counts against
exactly once. Every attempt is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx

from bench.billing.state import customer_of

MAX_ATTEMPTS = 5
RETRY_PAUSE_SECONDS = 0.2
FIRST, DUPLICATE, AHEAD = "first", "duplicate", "ahead"


@dataclass(frozen=True)
class Planned:
    made: int  # the event's place among the events as they were made
    event_id: str
    type: str
    kind: str  # FIRST; AHEAD: delivered before an older event of its account; DUPLICATE
    body: bytes


@dataclass(frozen=True)
class Attempt:
    position: int  # in the delivery order
    event_id: str
    type: str
    kind: str
    attempt: int
    status: int  # 0: no answer (connection failed)
    text: str
    started: float  # time.time(), to set beside the lab's request log
    ms: float

    @property
    def ended(self) -> float:
        return self.started + self.ms / 1000


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def plan(
    events: list[dict[str, Any]], duplicates: int, out_of_order: int, seed: int
) -> list[Planned]:
    rng = random.Random(seed)
    order = list(range(len(events)))
    ahead = _swap_pairs(events, order, out_of_order, rng)
    sequence = [(made, AHEAD if made in ahead else FIRST) for made in order]
    for n, made in enumerate(sorted(rng.sample(range(len(events)), duplicates))):
        place = next(i for i, (m, _) in enumerate(sequence) if m == made) + 1
        if n % 2:  # a retry or a replay, later
            place = rng.randint(place, len(sequence))
        sequence.insert(place, (made, DUPLICATE))
    bodies = [json.dumps(event, indent=2, sort_keys=True).encode() for event in events]
    return [
        Planned(made, str(events[made]["id"]), str(events[made]["type"]), kind, bodies[made])
        for made, kind in sequence
    ]


def _swap_pairs(
    events: list[dict[str, Any]], order: list[int], count: int, rng: random.Random
) -> set[int]:
    """Swap ``count`` pairs; the later event's index is returned for each.

    First, for each account, its first checkout and its last subscription event; when
    more are asked than there are accounts, also its first subscription event and its
    last invoice event (the pairs never share an event)."""
    by_account: dict[str, list[int]] = defaultdict(list)
    for made, event in enumerate(events):
        by_account[customer_of(event)].append(made)
    first: list[tuple[int, int]] = []
    second: list[tuple[int, int]] = []
    for made_list in by_account.values():
        checkouts = [m for m in made_list if events[m]["type"] == "checkout.session.completed"]
        if not checkouts:
            continue
        news = [
            m
            for m in made_list
            if m > checkouts[0] and events[m]["type"].startswith("customer.subscription.")
        ]
        if not news:
            continue
        first.append((checkouts[0], news[-1]))
        invoices = [
            m for m in made_list if m > news[0] and events[m]["type"].startswith("invoice.")
        ]
        if len(news) > 1 and invoices and invoices[-1] != news[-1]:
            second.append((news[0], invoices[-1]))
    if len(first) + len(second) < count:
        raise ValueError(f"only {len(first) + len(second)} pairs can be out of order, not {count}")
    chosen = rng.sample(first, min(count, len(first)))
    chosen += rng.sample(second, count - len(chosen))
    ahead = set()
    for earlier, later in chosen:
        order[earlier], order[later] = order[later], order[earlier]
        ahead.add(later)
    return ahead


def deliver(url: str, secret: str, planned: list[Planned], senders: int) -> list[Attempt]:
    """Every attempt, from ``senders`` threads at once, the deliveries taken in order."""
    attempts: list[Attempt] = []
    lock = threading.Lock()
    taken = iter(enumerate(planned))
    start = threading.Barrier(senders)

    def sender() -> None:
        with httpx.Client(trust_env=False, timeout=60.0) as client:
            start.wait()
            while True:
                with lock:
                    item = next(taken, None)
                if item is None:
                    return
                made = deliver_one(client, url, secret, *item)
                with lock:
                    attempts.extend(made)

    threads = [threading.Thread(target=sender, name=f"sender-{n}") for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(attempts, key=lambda a: (a.position, a.attempt))


def deliver_one(
    client: httpx.Client, url: str, secret: str, position: int, item: Planned
) -> list[Attempt]:
    """One delivery: attempts until the panel answers other than 503, or MAX_ATTEMPTS."""
    made: list[Attempt] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        started_wall, started = time.time(), time.perf_counter()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature(item.body, secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            answer = client.post(url, content=item.body, headers=headers)
            status, text = answer.status_code, answer.text[:200]
        except httpx.HTTPError as exc:
            status, text = 0, f"{type(exc).__name__}: {exc}"[:200]
        ms = (time.perf_counter() - started) * 1000
        made.append(
            Attempt(
                position,
                item.event_id,
                item.type,
                item.kind,
                attempt,
                status,
                text,
                started_wall,
                ms,
            )
        )
        if status not in (0, 503) or attempt == MAX_ATTEMPTS:
            break
        time.sleep(RETRY_PAUSE_SECONDS)
    return made
