"""The Stripe webhook: signatures, storing each event once, converging on Stripe's state."""

from __future__ import annotations

import json
import time

import pytest

from accounts.models import Organization
from billing.models import StripeEvent, StripeEventStatus, Subscription
from billing.plans import PlanKey
from billing.services import stripe_event_reprocess
from sandbox.stripe import StripeSandbox, sign_payload
from tests.billing import billed_plan
from tests.fixtures.stripe import event_payload, post_webhook, subscribe

pytestmark = pytest.mark.django_db


def _subscription_event(
    stripe_sim: StripeSandbox, subscription_id: str, type_: str = "customer.subscription.updated"
) -> dict:
    return next(
        event
        for event in stripe_sim.events(type_)
        if event["data"]["object"]["id"] == subscription_id
    )


def test_a_paid_subscription_puts_the_organization_on_its_plan(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    sub = subscribe(stripe_sim, acme, "pro")

    acme.refresh_from_db()
    subscription = Subscription.objects.get(organization=acme)
    assert billed_plan(acme) == PlanKey.PRO
    assert subscription.stripe_subscription_id == sub["id"]
    assert subscription.status == "active"
    assert subscription.current_period_end is not None
    assert (
        int(subscription.current_period_end.timestamp())
        == (sub["items"]["data"][0]["current_period_end"])
    )
    assert set(StripeEvent.objects.values_list("type", "status")) == {
        ("customer.subscription.created", StripeEventStatus.PROCESSED),
        ("invoice.paid", StripeEventStatus.PROCESSED),
    }
    assert all(d.status == 200 for d in stripe_sim.deliveries)


def test_a_bad_signature_is_refused_and_nothing_is_stored(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    payload = event_payload(
        "customer.subscription.updated",
        {"id": "sub_1", "object": "subscription"},
        event_id="evt_bad",
        created=int(time.time()),
    )

    wrong_secret = post_webhook(payload, secret="whsec_someone_else")
    no_header = post_webhook(payload, signature="")
    garbage = post_webhook(payload, signature="t=abc,v1=nothing")

    assert [r.status_code for r in (wrong_secret, no_header, garbage)] == [400, 400, 400]
    assert not StripeEvent.objects.exists()


def test_a_tampered_body_is_refused(stripe_sim: StripeSandbox, acme: Organization) -> None:
    payload = event_payload("invoice.paid", {"id": "in_1"}, event_id="evt_1", created=1)
    signature = sign_payload(payload, stripe_sim.webhook_secret)

    response = post_webhook(payload.replace(b"in_1", b"in_2"), signature=signature)

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_stale_signature_timestamp_is_refused_as_a_replay(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    payload = event_payload("invoice.paid", {"id": "in_1"}, event_id="evt_1", created=1)

    stale = post_webhook(
        payload, secret=stripe_sim.webhook_secret, timestamp=int(time.time()) - 301
    )
    fresh = post_webhook(payload, secret=stripe_sim.webhook_secret, timestamp=int(time.time()) - 10)

    assert stale.status_code == 400
    assert fresh.status_code == 200
    assert StripeEvent.objects.count() == 1


def test_a_duplicate_event_answers_200_and_changes_nothing(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    sub = subscribe(stripe_sim, acme, "pro")
    created = _subscription_event(stripe_sim, sub["id"], "customer.subscription.created")
    before = Subscription.objects.get(organization=acme)
    rows = StripeEvent.objects.count()

    delivery = stripe_sim.resend(created["id"])
    response = post_webhook(json.dumps(created).encode(), secret=stripe_sim.webhook_secret)

    assert delivery.status == 200
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert StripeEvent.objects.count() == rows
    after = Subscription.objects.get(organization=acme)
    assert after.updated_at == before.updated_at
    assert StripeEvent.objects.get(event_id=created["id"]).attempts == 1


def test_a_deleted_event_arriving_before_an_older_updated_one_leaves_it_canceled(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    sub = subscribe(stripe_sim, acme, "agency")
    stripe_sim.hold_events()
    stripe_sim.set_subscription_status(sub["id"], "past_due")  # an `updated`, then...
    stripe_sim.set_subscription_status(sub["id"], "canceled")  # ...a `deleted`
    held = stripe_sim.take_held()
    assert [e["type"] for e in held] == [
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]

    newest_first = list(reversed(held))
    stripe_sim.deliver(newest_first)

    subscription = Subscription.objects.get(organization=acme)
    acme.refresh_from_db()
    assert subscription.status == "canceled"
    assert subscription.ended_at is not None
    assert billed_plan(acme) == PlanKey.FREE
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {
        StripeEventStatus.PROCESSED
    }


def test_an_event_snapshot_older_than_the_stored_state_does_not_win(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    # The payload of an old `updated` event says "active", Stripe now says "canceled": the
    # handler re-reads Stripe, so the stale snapshot in the event never lands.
    sub = subscribe(stripe_sim, acme, "pro")
    old_snapshot = _subscription_event(stripe_sim, sub["id"], "customer.subscription.created")
    stripe_sim.set_subscription_status(sub["id"], "canceled")
    late = dict(old_snapshot, id="evt_late_copy", type="customer.subscription.updated")

    response = post_webhook(json.dumps(late).encode(), secret=stripe_sim.webhook_secret)

    assert response.status_code == 200
    assert Subscription.objects.get(organization=acme).status == "canceled"


def test_an_unknown_event_type_is_stored_as_ignored(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    event = stripe_sim.send_event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})

    stored = StripeEvent.objects.get(event_id=event["id"])
    assert stored.status == StripeEventStatus.IGNORED
    assert "customer.tax_id.created" in stored.error
    assert stripe_sim.deliveries[-1].status == 200


def test_an_event_for_an_unknown_customer_is_stored_as_failed_with_the_reason(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    stranger = stripe_sim.create_customer(name="Stranger", metadata={})

    stripe_sim.create_subscription(stranger, "price_sandbox_pro")

    assert {d.status for d in stripe_sim.deliveries} == {200}
    failed = StripeEvent.objects.filter(status=StripeEventStatus.FAILED)
    assert failed.count() == 2
    assert all(stranger in event.error for event in failed)
    assert not Subscription.objects.exists()


def test_staff_reprocess_a_failed_event_once_the_customer_is_known(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    customer = stripe_sim.create_customer(name="Acme", metadata={})
    stripe_sim.create_subscription(customer, "price_sandbox_pro")
    failed = list(StripeEvent.objects.filter(status=StripeEventStatus.FAILED))
    assert failed
    Organization.objects.filter(pk=acme.pk).update(stripe_customer_id=customer)

    outcomes = {stripe_event_reprocess(event=event).status for event in failed}
    again = stripe_event_reprocess(event=failed[0])

    assert outcomes == {StripeEventStatus.PROCESSED}
    assert again.status == StripeEventStatus.PROCESSED
    assert StripeEvent.objects.get(pk=failed[0].pk).attempts == 2
    assert Subscription.objects.get(organization=acme).status == "active"


def test_a_checkout_session_naming_the_organization_links_its_customer(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    customer = stripe_sim.create_customer(name="Acme", metadata={})
    sub = stripe_sim.subscription(
        stripe_sim.create_subscription(customer, "price_sandbox_pro")["id"]
    )
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "customer": customer,
        "client_reference_id": str(acme.pk),
        "subscription": sub["id"],
        "mode": "subscription",
    }

    stripe_sim.send_event("checkout.session.completed", session)

    acme.refresh_from_db()
    assert acme.stripe_customer_id == customer
    assert billed_plan(acme) == PlanKey.PRO


def test_a_checkout_session_cannot_take_over_an_organization_with_another_customer(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    subscribe(stripe_sim, acme, "pro")
    intruder = stripe_sim.create_customer(name="Intruder", metadata={})
    sub = stripe_sim.create_subscription(intruder, "price_sandbox_agency")
    session = {
        "id": "cs_test_2",
        "object": "checkout.session",
        "customer": intruder,
        "client_reference_id": str(acme.pk),
        "subscription": sub["id"],
    }

    event = stripe_sim.send_event("checkout.session.completed", session)

    acme.refresh_from_db()
    assert billed_plan(acme) == PlanKey.PRO
    assert acme.stripe_customer_id != intruder
    assert StripeEvent.objects.get(event_id=event["id"]).status == StripeEventStatus.FAILED


def test_when_stripe_cannot_be_read_the_event_fails_and_redelivery_processes_it(
    stripe_sim: StripeSandbox, acme: Organization, settings
) -> None:
    subscribe(stripe_sim, acme, "pro")
    stripe_sim.hold_events()
    sub_id = Subscription.objects.get(organization=acme).stripe_subscription_id
    stripe_sim.set_subscription_status(sub_id, "canceled")
    (deleted,) = stripe_sim.take_held()
    working_base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port

    first = post_webhook(json.dumps(deleted).encode(), secret=stripe_sim.webhook_secret)
    stored = StripeEvent.objects.get(event_id=deleted["id"])
    settings.STRIPE_API_BASE = working_base
    second = post_webhook(json.dumps(deleted).encode(), secret=stripe_sim.webhook_secret)

    assert first.status_code == 503
    assert stored.status == StripeEventStatus.FAILED
    assert "Stripe is unavailable" in stored.error
    assert second.status_code == 200
    assert StripeEvent.objects.get(event_id=deleted["id"]).status == StripeEventStatus.PROCESSED
    assert Subscription.objects.get(organization=acme).status == "canceled"


def test_an_event_about_no_subscription_is_ignored(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    subscribe(stripe_sim, acme, "pro")

    event = stripe_sim.send_event(
        "invoice.paid",
        {
            "id": "in_oneoff",
            "object": "invoice",
            "customer": acme.stripe_customer_id,
            "parent": None,
        },
    )

    stored = StripeEvent.objects.get(event_id=event["id"])
    assert stored.status == StripeEventStatus.IGNORED
    assert stored.organization == acme
