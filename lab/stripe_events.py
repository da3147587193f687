"""The lab processor's events and webhooks: every event the lab sends, kept with its
deliveries, delivered from one thread and in order to every registered endpoint, signed as
Stripe signs (``Stripe-Signature: t=<unix>,v1=<hmac-sha256(secret, "<t>.<body>")>``)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lab.netlab import SUBNET
from lab.stripe_front import API_VERSION, JSON, StripeError, new_id


def make_event(kind: str, obj: JSON, previous: JSON | None = None) -> JSON:
    data: JSON = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": new_id("evt_"),
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "api_version": API_VERSION,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header of ``payload``, as Stripe computes it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def check_webhook_url(url: str) -> str:
    """Lab rule: webhooks go to loopback or the lab network, never anywhere else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StripeError(400, "url must be an http(s) URL", param="url")
    if parts.hostname == "localhost":
        return url
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = None
    if address is None or not (address.is_loopback or address in ipaddress.ip_network(SUBNET)):
        message = f"lab rule: webhooks go to loopback or {SUBNET}, by address; not {url}"
        raise StripeError(400, message, param="url")
    return url


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    secret: str
    events: frozenset[str] | None = None  # None: every event

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events


@dataclass
class EventRecord:
    event: JSON
    source: str  # "localstripe" (its own event, delivered by the front) or "front"
    payload: bytes
    deliveries: list[JSON] = field(default_factory=list)

    def summary(self) -> JSON:
        return {
            "id": self.event["id"],
            "type": self.event["type"],
            "source": self.source,
            "created": self.event["created"],
            "event": self.event,
            "deliveries": list(self.deliveries),
        }


class EventHub:
    """Every event the lab sends, with its deliveries; one thread delivers them, in order."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.webhooks: dict[str, Webhook] = {}
        self._records: dict[str, EventRecord] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, str] | None] = queue.Queue()
        self._generation = 0  # bumped by clear(): queued deliveries of older events are dropped
        self._thread = threading.Thread(target=self._run, name="stripe-lab-webhooks", daemon=True)
        self._thread.start()

    def register(self, url: str, secret: str, events: Iterable[str] | None = None) -> Webhook:
        """A new endpoint, sent the events made from now on (as at Stripe): the deliveries
        of earlier ones finish first."""
        if not secret:
            raise StripeError(400, "secret is required", param="secret")
        hook = Webhook(
            new_id("we_"),
            check_webhook_url(url),
            secret,
            None if events is None else frozenset(events),
        )
        self._queue.join()
        with self._lock:
            self.webhooks[hook.id] = hook
        return hook

    def forget_webhooks(self) -> None:
        self._queue.join()
        with self._lock:
            self.webhooks.clear()

    def emit(self, event: JSON, source: str) -> None:
        payload = json.dumps(event, indent=2, sort_keys=True).encode()
        with self._lock:
            if event["id"] in self._records:
                return
            self._records[event["id"]] = EventRecord(event, source, payload)
            self._queue.put((self._generation, event["id"]))

    def get(self, event_id: str) -> EventRecord | None:
        with self._lock:
            return self._records.get(event_id)

    def listing(self) -> list[JSON]:
        with self._lock:
            return [record.summary() for record in self._records.values()]

    def resend(self, event_id: str) -> list[JSON]:
        """Deliver an event again, now, to every webhook that wants it (a fresh signature)."""
        record = self.get(event_id)
        if record is None:
            raise StripeError(
                404, f"No such event: '{event_id}'", param="event", code="resource_missing"
            )
        return self._deliver(record)

    def clear(self, wait: bool = True) -> None:
        """Forget every event; with ``wait``, also let a delivery under way finish first."""
        with self._lock:
            self._generation += 1
            self._records.clear()
        if wait:
            self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            generation, event_id = item
            record = self.get(event_id)
            if record is not None and generation == self._generation:
                self._deliver(record)
            self._queue.task_done()
        self._queue.task_done()

    def _deliver(self, record: EventRecord) -> list[JSON]:
        with self._lock:
            hooks = [hook for hook in self.webhooks.values() if hook.wants(record.event["type"])]
        results = [self._post(hook, record.payload) for hook in hooks]
        with self._lock:
            record.deliveries.extend(results)
        return results

    def _post(self, hook: Webhook, payload: bytes) -> JSON:
        parts = urlsplit(hook.url)
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, hook.secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        result: JSON = {
            "webhook": hook.id,
            "url": hook.url,
            "at": time.time(),
            "status": None,
            "error": None,
        }
        conn = connection(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            target = parts.path or "/"
            conn.request(
                "POST",
                f"{target}?{parts.query}" if parts.query else target,
                body=payload,
                headers=headers,
            )
            response = conn.getresponse()
            response.read()
            result["status"] = response.status
        except OSError as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        return result
