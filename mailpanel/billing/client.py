"""The one door to the payment processor (Stripe, through its official SDK).

Every call to the processor goes through here: the key, the base URL (tests and the lab
point it at the lab's processor), bounded retries and a timeout are set in one place, and
every failure becomes :class:`ProcessorUnavailable` or :class:`ProcessorRefused` with a
sentence for the user. Nothing but the billing contact is ever sent about a user.
"""

from __future__ import annotations

import functools
from typing import Any

import stripe
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)


class ProcessorError(Exception):
    """The processor could not do it; the text is for the user."""


class ProcessorUnavailable(ProcessorError):
    def __init__(self) -> None:
        super().__init__(
            "The payment processor did not answer (it may be busy or down). Nothing was "
            "charged or changed: please try again in a minute."
        )


class ProcessorRefused(ProcessorError):
    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # the processor's error code, e.g. "resource_missing"


def client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise ProcessorRefused("Billing is off on this panel.")
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_MAX_NETWORK_RETRIES,
        settings.STRIPE_TIMEOUT_SECONDS,
    )


@functools.lru_cache(maxsize=4)
def _client(key: str, base: str, retries: int, timeout: int) -> stripe.StripeClient:
    """One client (and its connection pool, thread-safe) per configuration: building one
    costs more than the call it makes."""
    return stripe.StripeClient(
        key,
        base_addresses={"api": base},
        max_network_retries=retries,
        http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
    )


def call(what: str, operation: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call; its result, or a ProcessorError (logged without any payload)."""
    try:
        return operation(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        log.warning("processor unavailable", call=what, error=type(exc).__name__)
        raise ProcessorUnavailable() from exc
    except stripe.APIError as exc:
        log.warning("processor error", call=what, status=exc.http_status)
        raise ProcessorUnavailable() from exc
    except stripe.StripeError as exc:
        log.warning("processor refused", call=what, status=exc.http_status, code=exc.code)
        message = exc.user_message or "The payment processor refused it."
        raise ProcessorRefused(message, str(exc.code or "")) from exc


def as_dict(obj: Any) -> dict[str, Any]:
    """An SDK object as plain data (the SDK's objects are not dicts)."""
    if hasattr(obj, "to_dict"):
        data: dict[str, Any] = obj.to_dict()
        return data
    return dict(obj)


# --- what the panel asks of the processor -------------------------------------------


def create_customer(contact: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    """One customer per key, however often asked (a double submit makes one)."""
    create = client().v1.customers.create
    options = {"idempotency_key": idempotency_key}
    return as_dict(call("customers.create", create, params=contact, options=options))


def update_customer(customer_id: str, contact: dict[str, Any]) -> dict[str, Any]:
    update = client().v1.customers.update
    return as_dict(call("customers.update", update, customer_id, params=contact))


def create_checkout_session(params: dict[str, Any]) -> dict[str, Any]:
    create = client().v1.checkout.sessions.create
    return as_dict(call("checkout.sessions.create", create, params=params))


def retrieve_checkout_session(session_id: str) -> dict[str, Any]:
    retrieve = client().v1.checkout.sessions.retrieve
    return as_dict(call("checkout.sessions.retrieve", retrieve, session_id))


def create_portal_session(customer_id: str, return_url: str) -> dict[str, Any]:
    create = client().v1.billing_portal.sessions.create
    params = {"customer": customer_id, "return_url": return_url}
    return as_dict(call("billing_portal.sessions.create", create, params=params))


def retrieve_subscription(subscription_id: str) -> dict[str, Any]:
    retrieve = client().v1.subscriptions.retrieve
    return as_dict(call("subscriptions.retrieve", retrieve, subscription_id))


def cancel_subscription(subscription_id: str) -> dict[str, Any]:
    cancel = client().v1.subscriptions.cancel
    return as_dict(call("subscriptions.cancel", cancel, subscription_id))


def list_subscriptions(customer_id: str) -> list[dict[str, Any]]:
    """Every subscription of the customer, ended ones too."""
    found = call(
        "subscriptions.list",
        client().v1.subscriptions.list,
        params={"customer": customer_id, "status": "all", "limit": 100},
    )
    return [as_dict(s) for s in found.data]


def retrieve_invoice(invoice_id: str) -> dict[str, Any]:
    retrieve = client().v1.invoices.retrieve
    return as_dict(call("invoices.retrieve", retrieve, invoice_id))


def list_invoices(customer_id: str, limit: int = 24) -> list[dict[str, Any]]:
    found = call(
        "invoices.list",
        client().v1.invoices.list,
        params={"customer": customer_id, "limit": limit},
    )
    return [as_dict(i) for i in found.data]


def retrieve_payment_method(payment_method_id: str) -> dict[str, Any]:
    retrieve = client().v1.payment_methods.retrieve
    return as_dict(call("payment_methods.retrieve", retrieve, payment_method_id))


def retrieve_customer(customer_id: str) -> dict[str, Any]:
    retrieve = client().v1.customers.retrieve
    return as_dict(call("customers.retrieve", retrieve, customer_id))
