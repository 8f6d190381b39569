"""The plans DCVaaS sells, as code, and what an organization may do right now.

Limits and Stripe price ids come from settings. `organization_entitlements` is the one function
that answers "may this organization add a domain?": the billing page shows its answer and the
domains code asks it before creating a domain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.models import Organization
    from billing.models import Subscription


class PlanKey(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    AGENCY = "agency", "Agency"


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, verbatim."""

    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete (expired)"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


# Statuses in which Stripe is (still) billing the customer: the subscription counts as theirs.
LIVE_STATUSES = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE}
)


@dataclass(frozen=True)
class Plan:
    key: PlanKey
    name: str
    domain_limit: int
    webhook_endpoint_limit: int
    origin_limit: int
    price_id: str  # empty for Free: nothing to buy
    monthly_price_usd: int
    features: tuple[str, ...]

    @property
    def is_paid(self) -> bool:
        return bool(self.price_id)

    @property
    def limits(self) -> tuple[str, ...]:
        """Every limit, as the plan cards list them: nobody should learn one from an error."""
        return (
            f"Up to {self.domain_limit} domains",
            f"{self.origin_limit} origin{'s' if self.origin_limit != 1 else ''} "
            "(your own apps behind the domains)",
            f"{self.webhook_endpoint_limit} webhook endpoint"
            f"{'s' if self.webhook_endpoint_limit != 1 else ''}",
        )


# What every plan gets; plans differ in their limits (`Plan.limits`). (Owners of every
# organization are emailed about their domains' changes, Free included.)
FEATURES = ("Automatic certificates", "Dashboard and API", "Email alerts")


def all_plans() -> tuple[Plan, ...]:
    """Every plan, cheapest first. Built at call time so settings overrides apply."""
    return (
        Plan(
            key=PlanKey.FREE,
            name="Free",
            domain_limit=settings.PLAN_LIMIT_FREE,
            webhook_endpoint_limit=1,
            origin_limit=1,
            price_id="",
            monthly_price_usd=0,
            features=FEATURES,
        ),
        Plan(
            key=PlanKey.PRO,
            name="Pro",
            domain_limit=settings.PLAN_LIMIT_PRO,
            webhook_endpoint_limit=5,
            origin_limit=5,
            price_id=settings.STRIPE_PRICE_PRO,
            monthly_price_usd=29,
            features=FEATURES,
        ),
        Plan(
            key=PlanKey.AGENCY,
            name="Agency",
            domain_limit=settings.PLAN_LIMIT_AGENCY,
            webhook_endpoint_limit=20,
            origin_limit=25,
            price_id=settings.STRIPE_PRICE_AGENCY,
            monthly_price_usd=99,
            features=FEATURES,
        ),
    )


def get_plan(key: str) -> Plan:
    for plan in all_plans():
        if plan.key == key:
            return plan
    raise KeyError(f"Unknown plan {key!r}")


def paid_plans() -> tuple[Plan, ...]:
    return tuple(plan for plan in all_plans() if plan.is_paid)


def plan_for_price(price_id: str) -> Plan | None:
    """The paid plan a Stripe price id sells, or None for a price we do not know."""
    for plan in paid_plans():
        if price_id and plan.price_id == price_id:
            return plan
    return None


def grace_period() -> dt.timedelta:
    return dt.timedelta(days=settings.BILLING_GRACE_DAYS)


@dataclass(frozen=True)
class Entitlements:
    """What an organization may do now, and what to tell its people about it."""

    plan: Plan  # the plan whose limits apply now
    subscribed_plan: Plan  # the plan Stripe bills (or last billed) for; Free without one
    status: str  # Stripe's subscription status, "" without a subscription
    domain_count: int
    domain_limit: int
    can_add_domain: bool
    remaining: int
    grace_ends_at: dt.datetime | None
    warnings: tuple[str, ...]
    upgrade: Plan | None  # the cheapest plan with room for one more domain, if any

    @property
    def over_limit(self) -> bool:
        return self.domain_count > self.domain_limit

    @property
    def in_grace(self) -> bool:
        return self.grace_ends_at is not None and self.plan.is_paid


def _date(value: dt.datetime) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def _applicable_plan(
    subscription: Subscription | None, now: dt.datetime
) -> tuple[Plan, Plan, dt.datetime | None, list[str]]:
    """(plan that applies, plan subscribed to, end of grace, status warnings)."""
    free = get_plan(PlanKey.FREE)
    if subscription is None:
        return free, free, None, []
    subscribed = plan_for_price(subscription.stripe_price_id) or free
    status = subscription.status
    if not subscribed.is_paid:
        return free, free, None, []
    if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        warnings = []
        if subscription.cancel_at_period_end and subscription.current_period_end:
            # The rule that applies once it has ended (below), said now with its date.
            end = subscription.current_period_end
            free_from = end + grace_period()
            warnings.append(
                f"Your {subscribed.name} plan is canceled and ends on {_date(end)}. "
                + (
                    f"{subscribed.name} limits apply until {_date(free_from)}; after that, "
                    if free_from > end
                    else "After that, "
                )
                + f"Free limits apply ({free.domain_limit} domains)."
            )
        return subscribed, subscribed, None, warnings
    # The moment from which the grace period runs, from Stripe's own timestamps so that the
    # outcome does not depend on when (or in which order) we heard about it: a failed renewal
    # is due at the start of the unpaid period; an ended subscription ended at `ended_at`.
    if status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID):
        anchor = subscription.current_period_start or subscription.current_period_end
    elif status == SubscriptionStatus.CANCELED:
        anchor = subscription.ended_at or subscription.canceled_at
    else:
        # incomplete, incomplete_expired, paused: never paid for the current period.
        return free, subscribed, None, []
    grace_ends_at = (anchor or now) + grace_period()
    in_grace = now < grace_ends_at
    if status == SubscriptionStatus.PAST_DUE:
        if in_grace:
            message = (
                f"Your last payment for {subscribed.name} failed. Update your payment method "
                f"before {_date(grace_ends_at)} to keep {subscribed.name} limits; after that, "
                f"Free limits apply ({free.domain_limit} domains)."
            )
        else:
            message = (
                f"Your payment for {subscribed.name} is overdue and the grace period ended on "
                f"{_date(grace_ends_at)}: Free limits apply until the invoice is paid."
            )
    elif status == SubscriptionStatus.UNPAID:
        message = f"Your {subscribed.name} subscription is unpaid. " + (
            f"{subscribed.name} limits apply until {_date(grace_ends_at)}, then Free limits."
            if in_grace
            else "Free limits apply until the invoice is paid."
        )
    else:
        message = (
            f"Your {subscribed.name} subscription has ended. {subscribed.name} limits apply "
            f"until {_date(grace_ends_at)}, then Free limits ({free.domain_limit} domains)."
            if in_grace
            else f"Your {subscribed.name} subscription has ended: Free limits apply."
        )
    plan = subscribed if in_grace else free
    return plan, subscribed, grace_ends_at if in_grace else None, [message]


def organization_entitlements(
    organization: Organization,
    *,
    domain_count: int,
    now: dt.datetime | None = None,
    subscription: Subscription | None | Literal["load"] = "load",
) -> Entitlements:
    """What `organization` may do at `now`, given how many domains it has.

    Rules: active and trialing subscriptions get their plan's limit; past_due keeps it for the
    grace period (settings.BILLING_GRACE_DAYS) and warns; canceled and unpaid fall back to Free
    once the grace period is over. A lower limit never removes domains: existing ones keep
    working and new ones are refused until the organization is under its limit.
    """
    now = now or timezone.now()
    if isinstance(subscription, str):  # "load"; else the caller has it (the dashboard caches it)
        # The reverse one-to-one raises when there is no row; an organization without one is
        # Free.
        subscription = getattr(organization, "subscription", None)
    plan, subscribed, grace_ends_at, warnings = _applicable_plan(subscription, now)
    limit = plan.domain_limit
    can_add = domain_count < limit
    if domain_count > limit:
        excess = domain_count - limit
        warnings.append(
            f"You have {domain_count} domains, more than the {plan.name} limit of {limit}. "
            f"Your existing domains keep working, but you cannot add new ones until you "
            f"remove {excess + 1} or upgrade."
        )
    elif domain_count == limit:
        warnings.append(
            f"You are using all {limit} domains of the {plan.name} plan: upgrade to add more."
        )
    upgrade = next(
        (
            candidate
            for candidate in paid_plans()
            if candidate.domain_limit > max(domain_count, limit)
            and candidate.domain_limit > plan.domain_limit
        ),
        None,
    )
    return Entitlements(
        plan=plan,
        subscribed_plan=subscribed,
        status=subscription.status if subscription is not None else "",
        domain_count=domain_count,
        domain_limit=limit,
        can_add_domain=can_add,
        remaining=max(0, limit - domain_count),
        grace_ends_at=grace_ends_at,
        warnings=tuple(warnings),
        upgrade=upgrade,
    )
