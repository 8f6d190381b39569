"""Staff see subscriptions and events in the admin, and reprocess failed events there."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Organization
from billing.models import StripeEvent, StripeEventStatus, Subscription
from sandbox.stripe import StripeSandbox
from tests.billing import billed_plan
from tests.fixtures.stripe import subscribe

pytestmark = pytest.mark.django_db


def test_the_event_and_subscription_lists_filter_and_search(
    stripe_sim: StripeSandbox, acme: Organization, staff_client: Client
) -> None:
    subscribe(stripe_sim, acme, "pro")
    sub_id = Subscription.objects.get().stripe_subscription_id

    events = staff_client.get(
        "/admin/billing/stripeevent/", {"status__exact": "processed", "q": sub_id}
    )
    subscriptions = staff_client.get(
        "/admin/billing/subscription/", {"plan__exact": "pro", "q": "Acme"}
    )

    assert events.status_code == 200
    assert "customer.subscription.created" in events.content.decode()
    assert subscriptions.status_code == 200
    assert sub_id in subscriptions.content.decode()


def test_the_reprocess_action_processes_failed_events(
    stripe_sim: StripeSandbox, acme: Organization, staff_client: Client
) -> None:
    customer = stripe_sim.create_customer(name="Acme", metadata={})
    stripe_sim.create_subscription(customer, "price_sandbox_agency")
    failed = list(StripeEvent.objects.values_list("pk", flat=True))
    assert StripeEvent.objects.filter(status=StripeEventStatus.FAILED).count() == len(failed)
    Organization.objects.filter(pk=acme.pk).update(stripe_customer_id=customer)

    response = staff_client.post(
        "/admin/billing/stripeevent/",
        {"action": "reprocess", "_selected_action": [str(pk) for pk in failed]},
        follow=True,
    )

    assert response.status_code == 200
    assert f"{len(failed)} processed" in response.content.decode()
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {
        StripeEventStatus.PROCESSED
    }
    acme.refresh_from_db()
    assert billed_plan(acme) == "agency"
