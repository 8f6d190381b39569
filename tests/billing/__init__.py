from __future__ import annotations

from accounts.models import Organization
from billing.models import Subscription
from billing.plans import PlanKey


def billed_plan(organization: Organization) -> str:
    """The plan Stripe bills the organization for now: its live subscription's, else Free."""
    subscription = Subscription.objects.filter(organization=organization).first()
    return subscription.plan if subscription is not None and subscription.is_live else PlanKey.FREE
