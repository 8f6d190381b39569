"""billing/stripe_client.py against the Stripe simulator, over loopback HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.models import Organization
from billing.models import Subscription
from billing.services import subscription_apply
from billing.stripe_client import (
    StripeClient,
    StripePermanentError,
    StripeTransientError,
    SubscriptionState,
    WebhookSignatureError,
)
from sandbox.stripe import StripeSandbox, sign_payload
from tests.fixtures.stripe import event_payload, subscribe


def test_a_missing_secret_key_names_the_setting(settings) -> None:
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(ImproperlyConfigured, match="STRIPE_SECRET_KEY"):
        StripeClient().retrieve_subscription("sub_1")


def test_a_missing_webhook_secret_names_the_setting(settings) -> None:
    settings.STRIPE_WEBHOOK_SECRET = ""

    with pytest.raises(ImproperlyConfigured, match="STRIPE_WEBHOOK_SECRET"):
        StripeClient().construct_event(payload=b"{}", signature="t=1,v1=x")


def test_creating_a_customer_twice_with_one_idempotency_key_makes_one_customer(
    stripe_sim: StripeSandbox,
) -> None:
    client = StripeClient()

    first = client.create_customer(
        organization_id=7, name="Acme", email="a@acme.test-customer.dev", idempotency_key="k-1"
    )
    retry = client.create_customer(
        organization_id=7, name="Acme", email="a@acme.test-customer.dev", idempotency_key="k-1"
    )

    assert first == retry
    assert list(stripe_sim.state["customers"]) == [first.id]
    assert stripe_sim.state["customers"][first.id]["metadata"] == {"organization_id": "7"}


def test_reusing_an_idempotency_key_with_other_parameters_is_a_permanent_error(
    stripe_sim: StripeSandbox,
) -> None:
    client = StripeClient()
    client.create_customer(organization_id=7, name="Acme", email="", idempotency_key="k-2")

    with pytest.raises(StripePermanentError):
        client.create_customer(organization_id=8, name="Other", email="", idempotency_key="k-2")


def test_the_checkout_session_carries_the_organization_and_the_price(
    stripe_sim: StripeSandbox,
) -> None:
    client = StripeClient()
    customer = client.create_customer(organization_id=3, name="A", email="", idempotency_key="c")

    session = client.create_checkout_session(
        customer_id=customer.id,
        price_id="price_sandbox_agency",
        organization_id=3,
        success_url="http://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/billing/",
        idempotency_key="s",
    )

    stored = stripe_sim.state["checkout_sessions"][session.id]
    assert session.url == f"{stripe_sim.public_url}/checkout/{session.id}"
    assert session.client_reference_id == "3"
    assert session.status == "open"
    assert stored["_price"] == "price_sandbox_agency"
    assert stored["_subscription_metadata"] == {"organization_id": "3"}
    assert client.retrieve_checkout_session(session.id) == session


def test_an_unknown_price_is_a_permanent_error_with_stripes_message(
    stripe_sim: StripeSandbox,
) -> None:
    client = StripeClient()
    customer = client.create_customer(organization_id=3, name="A", email="", idempotency_key="c")

    with pytest.raises(StripePermanentError, match="No such price"):
        client.create_checkout_session(
            customer_id=customer.id,
            price_id="price_nope",
            organization_id=3,
            success_url="http://app.test/ok",
            cancel_url="http://app.test/",
            idempotency_key="s",
        )


def test_a_subscription_is_read_with_its_period_from_the_items(
    stripe_sim: StripeSandbox,
) -> None:
    stripe_sim.hold_events()  # no app to tell: this test reads Stripe only
    customer = stripe_sim.create_customer(name="A", metadata={})
    sub = stripe_sim.create_subscription(customer, "price_sandbox_pro")

    state = StripeClient().retrieve_subscription(sub["id"])

    item = sub["items"]["data"][0]
    assert isinstance(state, SubscriptionState)
    assert dataclasses.is_dataclass(state)
    assert state.customer_id == customer
    assert state.price_id == "price_sandbox_pro"
    assert state.status == "active"
    assert state.current_period_end == dt.datetime.fromtimestamp(
        item["current_period_end"], tz=dt.UTC
    )
    assert "current_period_end" not in sub  # as in Stripe's current API version


def test_a_customers_subscriptions_are_listed_without_the_ended_ones(
    stripe_sim: StripeSandbox,
) -> None:
    stripe_sim.hold_events()
    customer = stripe_sim.create_customer(name="A", metadata={})
    ended = stripe_sim.create_subscription(customer, "price_sandbox_pro")
    stripe_sim.set_subscription_status(ended["id"], "canceled")
    live = stripe_sim.create_subscription(customer, "price_sandbox_agency")
    stripe_sim.create_subscription(stripe_sim.create_customer(metadata={}), "price_sandbox_pro")

    listed = StripeClient().list_subscriptions(customer)

    assert [state.id for state in listed] == [live["id"]]


def test_canceling_ends_a_subscription_now_and_canceling_again_is_not_an_error(
    stripe_sim: StripeSandbox,
) -> None:
    stripe_sim.hold_events()
    customer = stripe_sim.create_customer(name="A", metadata={})
    sub = stripe_sim.create_subscription(customer, "price_sandbox_pro")

    first = StripeClient().cancel_subscription(sub["id"])
    again = StripeClient().cancel_subscription(sub["id"])

    assert (first.status, again.status) == ("canceled", "canceled")
    assert first.ended_at is not None
    assert [e["type"] for e in stripe_sim.held_events()].count("customer.subscription.deleted") == 1


def test_open_checkouts_are_listed_and_expiring_one_twice_is_not_an_error(
    stripe_sim: StripeSandbox,
) -> None:
    stripe_sim.hold_events()
    client = StripeClient()
    customer = client.create_customer(organization_id=3, name="A", email="", idempotency_key="c")
    other = client.create_customer(organization_id=4, name="B", email="", idempotency_key="d")
    sessions = [
        client.create_checkout_session(
            customer_id=owner.id,
            price_id="price_sandbox_pro",
            organization_id=3,
            success_url="http://app.test/ok",
            cancel_url="http://app.test/billing/",
            idempotency_key=key,
        )
        for owner, key in ((customer, "s1"), (customer, "s2"), (other, "s3"))
    ]

    listed = client.list_open_checkout_sessions(customer.id)
    first = client.expire_checkout_session(sessions[0].id)
    again = client.expire_checkout_session(sessions[0].id)

    assert {s.id for s in listed} == {sessions[0].id, sessions[1].id}
    assert (first.status, again.status) == ("expired", "expired")
    assert [s.id for s in client.list_open_checkout_sessions(customer.id)] == [sessions[1].id]
    assert [e["type"] for e in stripe_sim.held_events()].count("checkout.session.expired") == 1


def test_canceling_an_unknown_subscription_is_a_permanent_error(stripe_sim: StripeSandbox) -> None:
    with pytest.raises(StripePermanentError, match="No such subscription"):
        StripeClient().cancel_subscription("sub_missing")


def test_an_unknown_subscription_is_a_permanent_error(stripe_sim: StripeSandbox) -> None:
    with pytest.raises(StripePermanentError, match="No such subscription"):
        StripeClient().retrieve_subscription("sub_missing")


def test_a_wrong_api_key_is_a_permanent_error(stripe_sim: StripeSandbox, settings) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"

    with pytest.raises(StripePermanentError, match="Invalid API Key"):
        StripeClient().retrieve_subscription("sub_1")


def test_an_unreachable_stripe_is_a_transient_error(settings) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STRIPE_SECRET_KEY = "sk_test_x"

    with pytest.raises(StripeTransientError):
        StripeClient().retrieve_subscription("sub_1")


def test_a_webhook_event_is_parsed_into_the_ids_we_need(stripe_sim: StripeSandbox) -> None:
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_1",
        "parent": {"subscription_details": {"subscription": "sub_1"}},
    }
    payload = event_payload("invoice.paid", invoice, event_id="evt_1", created=1_700_000_000)

    event = StripeClient().construct_event(
        payload=payload, signature=sign_payload(payload, stripe_sim.webhook_secret)
    )

    assert (event.id, event.type, event.customer_id, event.subscription_id) == (
        "evt_1",
        "invoice.paid",
        "cus_1",
        "sub_1",
    )
    assert event.created == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)


def test_a_signed_body_that_is_not_an_event_is_refused(stripe_sim: StripeSandbox) -> None:
    payload = b'{"object": "customer", "id": "cus_1"}'

    with pytest.raises(WebhookSignatureError):
        StripeClient().construct_event(
            payload=payload, signature=sign_payload(payload, stripe_sim.webhook_secret)
        )


@pytest.mark.django_db
def test_an_older_read_of_a_subscription_never_overwrites_a_newer_one(
    stripe_sim: StripeSandbox, acme: Organization
) -> None:
    sub = subscribe(stripe_sim, acme, "pro")
    stored = Subscription.objects.get(organization=acme)
    newer = StripeClient().retrieve_subscription(sub["id"])
    stale = dataclasses.replace(newer, status="past_due")

    subscription_apply(
        organization=acme, state=stale, read_at=stored.stripe_state_at - dt.timedelta(seconds=1)
    )

    assert Subscription.objects.get(organization=acme).status == "active"
