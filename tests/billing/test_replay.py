"""Hundreds of events, shuffled and partly duplicated, end where in-order delivery ends."""

from __future__ import annotations

import random

import pytest

from billing.models import StripeEvent, StripeEventStatus, Subscription
from billing.services import customer_ensure
from sandbox.stripe import StripeSandbox
from tests.billing import billed_plan
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

PRICES = ("price_sandbox_pro", "price_sandbox_agency")
DAY = 24 * 3600


def _history(stripe_sim: StripeSandbox, customers: list[str], rng: random.Random) -> None:
    """A seeded life for every customer: subscribe, switch, fail, recover, cancel, return."""
    live: dict[str, str] = {}
    for _step in range(8):
        for customer in customers:
            sub_id = live.get(customer)
            if sub_id is None:
                sub = stripe_sim.create_subscription(customer, rng.choice(PRICES))
                live[customer] = sub["id"]
                continue
            state = stripe_sim.subscription(sub_id)
            action = rng.choice(["switch", "past_due", "recover", "cancel", "unpaid", "none"])
            if action == "switch":
                other = next(p for p in PRICES if p != state["items"]["data"][0]["price"]["id"])
                stripe_sim.change_price(sub_id, other)
            elif action == "past_due" and state["status"] == "active":
                stripe_sim.set_subscription_status(sub_id, "past_due")
            elif action == "recover" and state["status"] in ("past_due", "unpaid"):
                stripe_sim.set_subscription_status(sub_id, "active")
            elif action == "unpaid" and state["status"] == "past_due":
                stripe_sim.set_subscription_status(sub_id, "unpaid")
            elif action == "cancel":
                stripe_sim.set_subscription_status(sub_id, "canceled")
                del live[customer]
        stripe_sim.advance_time(rng.choice([DAY, 10 * DAY, 31 * DAY]))


def _snapshot() -> dict[int, tuple]:
    rows = Subscription.objects.select_related("organization").order_by("organization_id")
    return {
        row.organization_id: (
            billed_plan(row.organization),
            row.stripe_subscription_id,
            row.plan,
            row.status,
            row.current_period_start,
            row.current_period_end,
            row.cancel_at_period_end,
            row.ended_at,
        )
        for row in rows
    }


def _forget_everything() -> None:
    Subscription.objects.all().delete()
    StripeEvent.objects.all().delete()


def test_shuffled_and_duplicated_delivery_ends_in_the_in_order_state(
    stripe_sim: StripeSandbox,
) -> None:
    organizations = OrganizationFactory.create_batch(30)
    customers = [customer_ensure(organization=org) for org in organizations]
    stripe_sim.hold_events()
    _history(stripe_sim, customers, random.Random(20261124))
    events = stripe_sim.take_held()
    assert len(events) >= 200

    stripe_sim.deliver(events)
    in_order = _snapshot()
    _forget_everything()
    deliveries = stripe_sim.deliver(events, shuffle_seed=7, duplicate_every=3)
    shuffled = _snapshot()

    assert len(deliveries) > len(events)
    assert {d.status for d in deliveries} == {200}
    assert shuffled == in_order
    assert len(in_order) == len(organizations)
    assert StripeEvent.objects.count() == len(events)
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {
        StripeEventStatus.PROCESSED
    }
    # ...and that state is Stripe's: every organization has its customer's newest subscription.
    for org in organizations:
        truth = max(
            (
                s
                for s in stripe_sim.state["subscriptions"].values()
                if s["customer"] == org.stripe_customer_id
            ),
            key=lambda s: (s["status"] in ("active", "trialing", "past_due"), s["created"]),
        )
        assert in_order[org.pk][1] == truth["id"]
        assert in_order[org.pk][3] == truth["status"]
