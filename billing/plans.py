"""The plans DCVaaS sells, as code. Limits and Stripe price ids come from settings."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models


class PlanKey(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    AGENCY = "agency", "Agency"


@dataclass(frozen=True)
class Plan:
    key: PlanKey
    name: str
    domain_limit: int
    price_id: str  # empty for Free: nothing to buy
    monthly_price_usd: int
    features: tuple[str, ...]

    @property
    def is_paid(self) -> bool:
        return bool(self.price_id)


def all_plans() -> tuple[Plan, ...]:
    """Every plan, cheapest first. Built at call time so settings overrides apply."""
    return (
        Plan(
            key=PlanKey.FREE,
            name="Free",
            domain_limit=settings.PLAN_LIMIT_FREE,
            price_id="",
            monthly_price_usd=0,
            features=("Automatic certificates", "Dashboard and API"),
        ),
        Plan(
            key=PlanKey.PRO,
            name="Pro",
            domain_limit=settings.PLAN_LIMIT_PRO,
            price_id=settings.STRIPE_PRICE_PRO,
            monthly_price_usd=29,
            features=("Automatic certificates", "Dashboard and API", "Email alerts"),
        ),
        Plan(
            key=PlanKey.AGENCY,
            name="Agency",
            domain_limit=settings.PLAN_LIMIT_AGENCY,
            price_id=settings.STRIPE_PRICE_AGENCY,
            monthly_price_usd=99,
            features=(
                "Automatic certificates",
                "Dashboard and API",
                "Email alerts",
                "Priority checks",
            ),
        ),
    )


def get_plan(key: str) -> Plan:
    for plan in all_plans():
        if plan.key == key:
            return plan
    raise KeyError(f"Unknown plan {key!r}")
