"""Plans and their limits, enforced in the action functions (never only in the page).

``allowance(owner)`` says what the owner may add now. Billing off (no Stripe key: the
embedded, self-hosted mode) means no limits at all. A subscription past due keeps its plan
for BILLING_GRACE_DAYS, then the account is read-only for paid features: nothing new
(servers, domains, fleet runs) until it is paid; what exists is never touched, and export
and deletion keep working. Canceled (or none): the Free plan's limits.

This module sits on the ground floor: the servers and domains rooms ask it, and count
their own rows, so it never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.billing.models import BillingAccount, Status

FREE = "free"
PAID_STATES = (Status.ACTIVE, Status.TRIALING)
SERVERS, DOMAINS, FLEET = "servers", "domains", "fleet"
NOUNS = {SERVERS: ("server", "servers"), DOMAINS: ("sending domain", "sending domains")}


def billing_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    servers: int | None  # None: no limit
    domains: int | None
    fleet: bool
    price: str  # the processor's price id; "" for Free
    amount: str = ""

    def limit(self, resource: str) -> int | None:
        value: int | None = getattr(self, resource)
        return value


def plans() -> dict[str, Plan]:
    return {key: Plan(key=key, **spec) for key, spec in settings.BILLING_PLANS.items()}


def plan(key: str) -> Plan:
    found = plans()
    return found.get(key, found[FREE])


def paid_plans() -> list[Plan]:
    return [p for p in plans().values() if p.price]


def plan_for_price(price_id: str) -> str:
    """The plan a processor price belongs to ("" when it is none of ours)."""
    return next((p.key for p in paid_plans() if p.price == price_id), "")


@dataclass(frozen=True)
class Allowance:
    """What an owner may do now, and why."""

    plan: Plan | None  # None: billing is off, no limits
    read_only: bool = False
    reason: str = ""

    def limit(self, resource: str) -> int | None:
        if self.plan is None:
            return None
        if self.read_only:
            return 0
        return self.plan.limit(resource)

    @property
    def fleet(self) -> bool:
        return self.plan is None or (not self.read_only and self.plan.fleet)


def grace_ends(account: BillingAccount) -> datetime | None:
    if account.status != Status.PAST_DUE or account.past_due_since is None:
        return None
    return account.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def allowance(owner: User, now: datetime | None = None) -> Allowance:
    if not billing_enabled():
        return Allowance(plan=None)
    account = BillingAccount.objects.filter(owner=owner).first()
    return allowance_of(account, now)


def allowance_of(account: BillingAccount | None, now: datetime | None = None) -> Allowance:
    if not billing_enabled():
        return Allowance(plan=None)
    if account is None or (account.status in PAID_STATES and not account.plan):
        return Allowance(plan=plan(FREE))
    if account.status in PAID_STATES:
        return Allowance(plan=plan(account.plan))
    ends = grace_ends(account)
    if ends is not None:
        if (now or timezone.now()) < ends:
            return Allowance(plan=plan(account.plan), reason="past_due_grace")
        return Allowance(plan=plan(account.plan), read_only=True, reason="past_due")
    if account.status == Status.UNPAID and account.plan != FREE:  # the processor gave up
        return Allowance(plan=plan(account.plan), read_only=True, reason=account.status)
    return Allowance(plan=plan(FREE))  # never paid (incomplete), ended, or none


@dataclass(frozen=True)
class Room:
    """How many of a resource the plan allows and the owner has, for the add pages."""

    plan: str
    noun: str
    limit: int
    have: int
    read_only: bool

    @property
    def full(self) -> bool:
        return self.read_only or self.have >= self.limit


def room(owner: User, resource: str, have: int) -> Room | None:
    """None when there is no limit (billing off, or a plan without one)."""
    granted = allowance(owner)
    limit = granted.limit(resource)
    if limit is None or granted.plan is None:
        return None
    one, many = NOUNS[resource]
    return Room(granted.plan.name, one if limit == 1 else many, limit, have, granted.read_only)


class PlanLimitReached(Exception):
    """What the owner's plan does not allow; the text is for them, with where to upgrade."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def upgrade_url(self) -> str:
        return reverse("billing")


def refuse_beyond_plan(owner: User, resource: str, count: Callable[[], int]) -> None:
    """Raise PlanLimitReached when one more of ``resource`` is over the owner's plan.

    Call it inside the transaction that adds the row; ``count`` counts the owner's rows
    (the caller's own model: this module imports no room above it). With billing on, the
    owner's row is locked first, so two adds at once cannot both take the last place.
    """
    if not billing_enabled():
        return
    User.objects.select_for_update().filter(pk=owner.pk).values_list("pk").first()
    granted = allowance(owner)
    limit = granted.limit(resource)
    if limit is None:
        return
    have = count()
    if have + 1 <= limit:
        return
    one, many = NOUNS[resource]
    if granted.read_only:
        raise PlanLimitReached(_read_only_text(granted))
    assert granted.plan is not None
    raise PlanLimitReached(
        f"Your {granted.plan.name} plan allows {limit} {one if limit == 1 else many}, and you "
        f"have {have}. Upgrade your plan to add more; nothing you have is changed."
    )


def refuse_fleet_beyond_plan(owner: User) -> None:
    granted = allowance(owner)
    if granted.fleet:
        return
    if granted.read_only:
        raise PlanLimitReached(_read_only_text(granted))
    assert granted.plan is not None
    raise PlanLimitReached(
        f"Fleet runs are not part of the {granted.plan.name} plan. Upgrade to run an action "
        "on many servers at once; you can still act on each server from its page."
    )


def _read_only_text(granted: Allowance) -> str:
    return (
        "Your subscription is not paid, so the panel adds nothing new (servers, domains, "
        "fleet runs) until it is. Your servers keep running as they are, your data stays, "
        "and export and deletion keep working. Update the payment method under Billing."
    )
