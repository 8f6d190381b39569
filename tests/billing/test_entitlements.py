"""What an organization may do: limits per plan, grace periods, and downgrades."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from accounts.models import Organization
from billing.models import Subscription
from billing.plans import PlanKey, get_plan, organization_entitlements

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _subscribe(
    organization: Organization,
    plan: str,
    status: str,
    *,
    period_start: dt.datetime = NOW - 10 * DAY,
    ended_at: dt.datetime | None = None,
    cancel_at_period_end: bool = False,
) -> Organization:
    Subscription.objects.create(
        organization=organization,
        stripe_customer_id="cus_test",
        stripe_subscription_id=f"sub_{organization.pk}",
        stripe_price_id=get_plan(plan).price_id,
        plan=plan,
        status=status,
        current_period_start=period_start,
        current_period_end=period_start + 30 * DAY,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=ended_at,
        ended_at=ended_at,
        stripe_state_at=NOW,
    )
    return Organization.objects.get(pk=organization.pk)


@pytest.mark.parametrize(("plan", "limit"), [(PlanKey.PRO, 15), (PlanKey.AGENCY, 50)])
def test_an_active_subscription_gets_its_plans_limit(
    acme: Organization, plan: str, limit: int
) -> None:
    org = _subscribe(acme, plan, "active")

    entitlements = organization_entitlements(org, domain_count=4, now=NOW)

    assert entitlements.plan.key == plan
    assert entitlements.domain_limit == limit
    assert entitlements.remaining == limit - 4
    assert entitlements.can_add_domain
    assert entitlements.warnings == ()


def test_an_organization_without_a_subscription_gets_free_limits(acme: Organization) -> None:
    entitlements = organization_entitlements(acme, domain_count=2, now=NOW)

    assert entitlements.plan.key == PlanKey.FREE
    assert entitlements.domain_limit == 3
    assert entitlements.remaining == 1
    assert entitlements.can_add_domain
    assert entitlements.upgrade is not None
    assert entitlements.upgrade.key == PlanKey.PRO


def test_at_the_limit_no_domain_can_be_added_and_an_upgrade_is_suggested(
    acme: Organization,
) -> None:
    entitlements = organization_entitlements(acme, domain_count=3, now=NOW)

    assert not entitlements.can_add_domain
    assert entitlements.remaining == 0
    assert entitlements.upgrade is not None
    assert entitlements.upgrade.key == PlanKey.PRO
    assert "all 3 domains" in entitlements.warnings[0]


def test_the_limits_follow_the_settings(acme: Organization, settings) -> None:
    settings.PLAN_LIMIT_FREE = 5

    assert organization_entitlements(acme, domain_count=4, now=NOW).can_add_domain


def test_over_the_limit_after_a_downgrade_existing_domains_stay_and_new_ones_are_refused(
    acme: Organization,
) -> None:
    org = _subscribe(acme, PlanKey.PRO, "active")  # downgraded from Agency with 20 domains

    entitlements = organization_entitlements(org, domain_count=20, now=NOW)

    assert entitlements.plan.key == PlanKey.PRO
    assert entitlements.over_limit
    assert not entitlements.can_add_domain
    assert entitlements.remaining == 0
    (warning,) = entitlements.warnings
    assert "existing domains keep working" in warning
    assert "remove 6" in warning
    assert entitlements.upgrade is not None
    assert entitlements.upgrade.key == PlanKey.AGENCY


def test_on_agency_at_the_limit_there_is_nothing_to_upgrade_to(acme: Organization) -> None:
    org = _subscribe(acme, PlanKey.AGENCY, "active")

    entitlements = organization_entitlements(org, domain_count=50, now=NOW)

    assert not entitlements.can_add_domain
    assert entitlements.upgrade is None


def test_past_due_keeps_the_paid_limit_with_a_warning_until_the_grace_period_ends(
    acme: Organization,
) -> None:
    org = _subscribe(acme, PlanKey.PRO, "past_due", period_start=NOW)
    last_moment = NOW + 7 * DAY - dt.timedelta(seconds=1)

    during = organization_entitlements(org, domain_count=10, now=last_moment)
    after = organization_entitlements(org, domain_count=10, now=NOW + 7 * DAY)

    assert during.plan.key == PlanKey.PRO
    assert during.can_add_domain
    assert during.grace_ends_at == NOW + 7 * DAY
    assert "payment for Pro failed" in during.warnings[0]
    assert after.plan.key == PlanKey.FREE
    assert not after.can_add_domain
    assert "grace period ended" in after.warnings[0]
    assert "existing domains keep working" in after.warnings[1]


def test_a_canceled_subscription_falls_back_to_free_after_the_grace_period(
    acme: Organization,
) -> None:
    org = _subscribe(acme, PlanKey.AGENCY, "canceled", ended_at=NOW)

    during = organization_entitlements(org, domain_count=1, now=NOW + 6 * DAY)
    after = organization_entitlements(org, domain_count=1, now=NOW + 7 * DAY)

    assert (during.plan.key, during.domain_limit) == (PlanKey.AGENCY, 50)
    assert "has ended" in during.warnings[0]
    assert (after.plan.key, after.domain_limit) == (PlanKey.FREE, 3)
    assert after.subscribed_plan.key == PlanKey.AGENCY


def test_an_unpaid_subscription_past_its_grace_period_gets_free_limits(
    acme: Organization,
) -> None:
    org = _subscribe(acme, PlanKey.PRO, "unpaid", period_start=NOW - 20 * DAY)

    entitlements = organization_entitlements(org, domain_count=0, now=NOW)

    assert entitlements.plan.key == PlanKey.FREE
    assert "unpaid" in entitlements.warnings[0]


def test_the_grace_period_length_comes_from_the_settings(acme: Organization, settings) -> None:
    settings.BILLING_GRACE_DAYS = 2
    org = _subscribe(acme, PlanKey.PRO, "canceled", ended_at=NOW)

    assert organization_entitlements(org, domain_count=0, now=NOW + DAY).plan.key == "pro"
    assert organization_entitlements(org, domain_count=0, now=NOW + 2 * DAY).plan.key == "free"


def test_a_subscription_canceled_at_period_end_keeps_its_plan_and_says_when_it_ends(
    acme: Organization,
) -> None:
    org = _subscribe(acme, PlanKey.PRO, "active", cancel_at_period_end=True)

    entitlements = organization_entitlements(org, domain_count=0, now=NOW)

    assert entitlements.plan.key == PlanKey.PRO
    assert "ends on March 30, 2026" in entitlements.warnings[0]


@pytest.mark.parametrize(("grace_days", "free_from"), [(7, "April 6, 2026"), (0, "March 30, 2026")])
def test_a_cancellation_names_the_same_date_before_and_after_the_plan_ends(
    acme: Organization, settings: Any, grace_days: int, free_from: str
) -> None:
    settings.BILLING_GRACE_DAYS = grace_days
    org = _subscribe(acme, PlanKey.PRO, "active", cancel_at_period_end=True)
    end = NOW + 20 * DAY  # the period's end (it started ten days ago)

    before = organization_entitlements(org, domain_count=0, now=NOW).warnings[0]
    Subscription.objects.filter(organization=org).update(
        status="canceled", canceled_at=end, ended_at=end
    )
    org = Organization.objects.get(pk=org.pk)
    after = organization_entitlements(org, domain_count=0, now=end).warnings[0]

    if grace_days:
        assert f"Pro limits apply until {free_from}; after that, Free limits apply" in before
        assert f"Pro limits apply until {free_from}, then Free limits" in after
    else:
        assert "ends on March 30, 2026. After that, Free limits apply (3 domains)." in before
        assert after == "Your Pro subscription has ended: Free limits apply."


@pytest.mark.parametrize("status", ["incomplete", "incomplete_expired", "paused"])
def test_a_subscription_that_never_paid_gives_free_limits(acme: Organization, status: str) -> None:
    org = _subscribe(acme, PlanKey.AGENCY, status)

    assert organization_entitlements(org, domain_count=0, now=NOW).plan.key == PlanKey.FREE


def test_a_price_we_do_not_sell_gives_free_limits(acme: Organization) -> None:
    org = _subscribe(acme, PlanKey.PRO, "active")
    Subscription.objects.filter(organization=org).update(stripe_price_id="price_unknown")
    org = Organization.objects.get(pk=org.pk)

    assert organization_entitlements(org, domain_count=0, now=NOW).plan.key == PlanKey.FREE
