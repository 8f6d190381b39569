"""Billing workflows: checkout, the billing portal, and following Stripe's webhooks.

Stripe is the source of truth for who has paid. Every handler converges on Stripe's current
state instead of applying the change an event describes: it re-reads the subscription from
Stripe and writes it, so duplicated, late and out-of-order events all end in the same state.
Stripe is never called while a database transaction is open.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Organization
from billing.models import ClosedCustomer, StripeEvent, StripeEventStatus, Subscription
from billing.plans import LIVE_STATUSES, PlanKey, get_plan, plan_for_price
from billing.stripe_client import (
    ENDED_STATUSES,
    StripeClient,
    StripeClientError,
    StripeTransientError,
    SubscriptionState,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

HANDLED_EVENT_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
CHECKOUT_SESSION_ID_RE = re.compile(r"^cs_[A-Za-z0-9_]{1,200}$")
REQUEST_KEY_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")


class BillingError(Exception):
    """A billing workflow could not be done; `message` is for the person who asked."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BillingNotFound(BillingError):
    """The object asked for is not this organization's (views answer 404)."""


def organization_domain_count(organization: Organization) -> int:
    """How many domains count against the organization's plan.

    The domains app does not have its Domain model yet; once it does, this counts its rows.
    """
    try:
        domain_model = apps.get_model("domains", "Domain")
    except LookupError:
        return 0
    return int(domain_model.objects.filter(organization=organization).count())


def _current_subscription(organization: Organization) -> Subscription | None:
    return Subscription.objects.filter(organization=organization).first()


def customer_ensure(*, organization: Organization, email: str = "") -> str:
    """The organization's Stripe customer id, creating the customer on first use.

    Idempotent: the idempotency key is derived from the organization, so a retry (or two
    concurrent first clicks) gets the same customer from Stripe, and only the first id is
    stored (conditional UPDATE). Raises BillingError when Stripe refuses or is unreachable.
    """
    if organization.stripe_customer_id:
        return organization.stripe_customer_id
    created = int(organization.created_at.timestamp() * 1_000_000)
    try:
        customer = StripeClient().create_customer(
            organization_id=organization.pk,
            name=organization.name,
            email=email,
            idempotency_key=f"dcvaas-customer-{organization.pk}-{created}",
        )
    except StripeClientError as error:
        raise BillingError("stripe", error.message) from error
    stored = Organization.objects.filter(pk=organization.pk, stripe_customer_id="").update(
        stripe_customer_id=customer.id
    )
    if not stored:
        organization.refresh_from_db(fields=["stripe_customer_id"])
    else:
        organization.stripe_customer_id = customer.id
    return organization.stripe_customer_id


def checkout_start(
    *, organization: Organization, plan_key: str, request_key: str, email: str = ""
) -> str:
    """Start Stripe Checkout for a paid plan; returns the URL to send the person to.

    `request_key` comes from the form that was submitted, so submitting the same form twice
    reuses one Checkout Session (Stripe idempotency) while a new visit starts a new one.
    Raises BillingError for an unknown plan, an existing live subscription (plan changes go
    through the portal, so nobody pays twice) or a Stripe failure.
    """
    try:
        plan = get_plan(plan_key)
    except KeyError:
        plan = None
    if plan is None or not plan.is_paid:
        raise BillingError("unknown_plan", "Choose Pro or Agency.")
    if not REQUEST_KEY_RE.match(request_key):
        raise BillingError("bad_request", "The form expired: reload the page and try again.")
    subscription = _current_subscription(organization)
    if subscription is not None and subscription.is_live:
        raise BillingError(
            "already_subscribed",
            "You already have a subscription: use “Manage billing” to change your plan.",
        )
    customer_id = customer_ensure(organization=organization, email=email)
    try:
        session = StripeClient().create_checkout_session(
            customer_id=customer_id,
            price_id=plan.price_id,
            organization_id=organization.pk,
            success_url=(
                f"{settings.SITE_URL}{reverse('billing:success')}"
                "?session_id={CHECKOUT_SESSION_ID}"
            ),
            cancel_url=f"{settings.SITE_URL}{reverse('billing:page')}?checkout=canceled",
            idempotency_key=f"dcvaas-checkout-{organization.pk}-{plan.key}-{request_key}",
        )
    except StripeClientError as error:
        raise BillingError("stripe", error.message) from error
    return session.url


def portal_start(*, organization: Organization) -> str:
    """Open Stripe's Billing Portal for the organization; returns its URL.

    Raises BillingError if the organization has never been a Stripe customer or Stripe fails.
    """
    if not organization.stripe_customer_id:
        raise BillingError("no_customer", "There is nothing to manage yet: choose a plan first.")
    try:
        session = StripeClient().create_portal_session(
            customer_id=organization.stripe_customer_id,
            return_url=f"{settings.SITE_URL}{reverse('billing:page')}",
        )
    except StripeClientError as error:
        raise BillingError("stripe", error.message) from error
    return session.url


def checkout_complete(*, organization: Organization, session_id: str) -> Subscription | None:
    """Someone came back from Checkout: read the session and sync its subscription now.

    The webhook does the same a moment later; syncing here as well means the page shows the new
    plan at once. Raises BillingNotFound for a session of another organization (or none).
    """
    if not CHECKOUT_SESSION_ID_RE.match(session_id):
        raise BillingNotFound("not_found", "No such checkout session.")
    try:
        session = StripeClient().retrieve_checkout_session(session_id)
    except StripeTransientError as error:
        raise BillingError("stripe", error.message) from error
    except StripeClientError as error:
        raise BillingNotFound("not_found", "No such checkout session.") from error
    if session.client_reference_id != str(organization.pk):
        raise BillingNotFound("not_found", "No such checkout session.")
    if session.status != "complete" or not session.subscription_id:
        return None
    try:
        return subscription_sync(organization=organization, subscription_id=session.subscription_id)
    except StripeClientError as error:
        raise BillingError("stripe", error.message) from error


def _preferred(state: SubscriptionState, current: Subscription) -> bool:
    """Whether `state` (another subscription) should replace the stored one.

    An organization can end up with several subscriptions (re-subscribing after a cancel);
    the live one wins, then the newest. Independent of the order events arrive in.
    """
    new = (state.status in LIVE_STATUSES, state.created or timezone.now())
    old = (current.is_live, current.stripe_created or current.created_at)
    return new > old


def subscription_apply(
    *, organization: Organization, state: SubscriptionState, read_at: dt.datetime
) -> Subscription:
    """Write a subscription read from Stripe at `read_at`, unless what we have is newer.

    Idempotent: writing the same state twice changes nothing. A state read earlier than the
    stored one is dropped, so two webhooks racing cannot leave the older read behind.
    Returns the organization's subscription row afterwards. Raises BillingError if the
    subscription is stored for another organization.
    """
    plan = plan_for_price(state.price_id)
    fields: dict[str, Any] = {
        "stripe_customer_id": state.customer_id,
        "stripe_price_id": state.price_id,
        "plan": plan.key if plan else PlanKey.FREE,
        "status": state.status,
        "current_period_start": state.current_period_start,
        "current_period_end": state.current_period_end,
        "cancel_at_period_end": state.cancel_at_period_end,
        "canceled_at": state.canceled_at,
        "ended_at": state.ended_at,
        "stripe_created": state.created,
        "stripe_state_at": read_at,
    }
    # Two webhooks for a new subscription can both find no row and both insert: the loser hits
    # the one-to-one constraint and tries again, now as an update.
    for attempt in range(2):
        try:
            return _subscription_write(organization, state, fields, read_at)
        except IntegrityError as error:
            if attempt:
                raise BillingError(
                    "conflict",
                    f"Subscription {state.id} is already stored for another organization.",
                ) from error
    raise AssertionError("unreachable")


def _subscription_write(
    organization: Organization,
    state: SubscriptionState,
    fields: dict[str, Any],
    read_at: dt.datetime,
) -> Subscription:
    with transaction.atomic():
        current = Subscription.objects.select_for_update().filter(organization=organization).first()
        before: tuple[str, str, bool] = ("free", "", False)
        if current is not None:
            same = current.stripe_subscription_id == state.id
            if same and current.stripe_state_at > read_at:
                return current
            if not same and not _preferred(state, current):
                return current
            before = (current.plan, current.status, current.cancel_at_period_end)
            for name, value in fields.items():
                setattr(current, name, value)
            current.stripe_subscription_id = state.id
            current.save()
            subscription = current
        else:
            subscription = Subscription.objects.create(
                organization=organization, stripe_subscription_id=state.id, **fields
            )
        after = (subscription.plan, subscription.status, subscription.cancel_at_period_end)
        if after != before:
            # A change of plan, status or a cancellation, as Stripe tells it (no person acts).
            audit(
                organization.pk,
                "plan.changed",
                target=subscription,
                target_label=state.id,
                changes={
                    name: [old, new]
                    for name, old, new in zip(
                        ("plan", "status", "cancel_at_period_end"), before, after, strict=True
                    )
                    if old != new
                },
            )
    return subscription


def subscription_sync(*, organization: Organization, subscription_id: str) -> Subscription:
    """Read a subscription from Stripe and store it for `organization`.

    Raises StripeClientError (transient or permanent) when Stripe cannot answer, and
    BillingError if the subscription belongs to another Stripe customer.
    """
    read_at = timezone.now()
    state = StripeClient().retrieve_subscription(subscription_id)
    if state.customer_id != organization.stripe_customer_id:
        raise BillingError(
            "customer_mismatch",
            f"Subscription {state.id} belongs to customer {state.customer_id}, not to "
            f"{organization.name}'s ({organization.stripe_customer_id or 'none'}).",
        )
    return subscription_apply(organization=organization, state=state, read_at=read_at)


def subscriptions_ending(*, organization: Organization) -> bool:
    """Whether a subscription we know of has not ended yet (Stripe may still charge it)."""
    return (
        Subscription.objects.filter(organization=organization)
        .exclude(status__in=ENDED_STATUSES)
        .exists()
    )


def subscriptions_end(*, organization: Organization) -> int:
    """Cancel now, at Stripe, every subscription of the organization's customer that has not
    ended (the organization is being deleted), and store what Stripe answers; no further charge,
    no refund. First its open Checkout Sessions are expired, so a payment page left open in a
    browser cannot start a subscription afterwards. Asks Stripe, not our rows, so one whose
    webhook has not arrived is found too. Returns how many were canceled; safe to repeat.
    Raises StripeClientError when Stripe cannot answer (nothing is lost: the caller tries
    again)."""
    customers = _customers_of(organization)
    if not customers:
        return 0
    client = StripeClient()
    canceled = 0
    for customer in sorted(customers):
        for session in client.list_open_checkout_sessions(customer):
            client.expire_checkout_session(session.id)
            logger.info("expired checkout %s of organization %s", session.id, organization.pk)
        for state in client.list_subscriptions(customer):
            read_at = timezone.now()
            ended = client.cancel_subscription(state.id)
            subscription_apply(organization=organization, state=ended, read_at=read_at)
            canceled += 1
            logger.info("canceled %s of organization %s", state.id, organization.pk)
    return canceled


def customers_close(*, organization: Organization) -> None:
    """Remember the organization's Stripe customers as closed (it is being deleted now, in the
    caller's transaction): their late events are ignored, not failed."""
    customers = _customers_of(organization)
    ClosedCustomer.objects.bulk_create(
        [ClosedCustomer(customer_id=customer) for customer in customers], ignore_conflicts=True
    )


def _customers_of(organization: Organization) -> set[str]:
    customers = {organization.stripe_customer_id} | set(
        Subscription.objects.filter(organization=organization).values_list(
            "stripe_customer_id", flat=True
        )
    )
    customers.discard("")
    return customers


class _Outcome(Exception):
    def __init__(self, status: StripeEventStatus, error: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _organization_for(event: StripeEvent) -> Organization:
    if event.customer_id:
        organization = Organization.objects.filter(stripe_customer_id=event.customer_id).first()
        if organization is not None:
            return organization
    # A Checkout Session names our organization; trust it only for an organization that has no
    # customer yet (or this one), so one customer can never take over another's billing.
    if event.client_reference_id.isdigit():
        organization = (
            Organization.objects.filter(pk=int(event.client_reference_id))
            .filter(Q(stripe_customer_id="") | Q(stripe_customer_id=event.customer_id))
            .first()
        )
        if organization is not None and event.customer_id:
            Organization.objects.filter(pk=organization.pk, stripe_customer_id="").update(
                stripe_customer_id=event.customer_id
            )
            organization.refresh_from_db(fields=["stripe_customer_id"])
            return organization
    if event.customer_id and ClosedCustomer.objects.filter(customer_id=event.customer_id).exists():
        client = StripeClient()
        if (
            event.subscription_id
            and client.retrieve_subscription(event.subscription_id).status not in ENDED_STATUSES
        ):
            # Paid after the organization went (a checkout completed in the last pass's
            # window): nobody would use it, so it is canceled rather than charged again.
            client.cancel_subscription(event.subscription_id)
            logger.warning(
                "canceled %s of deleted organization's customer %s",
                event.subscription_id,
                event.customer_id,
            )
            raise _Outcome(
                StripeEventStatus.IGNORED,
                "The customer's organization was deleted; its subscription was canceled.",
            )
        raise _Outcome(StripeEventStatus.IGNORED, "The customer's organization was deleted.")
    raise _Outcome(
        StripeEventStatus.FAILED,
        f"No organization has Stripe customer {event.customer_id or '(none)'}.",
    )


def _handle(event: StripeEvent) -> None:
    if event.type not in HANDLED_EVENT_TYPES:
        raise _Outcome(StripeEventStatus.IGNORED, f"DCVaaS does not handle {event.type}.")
    organization = _organization_for(event)
    if event.organization_id != organization.pk:
        StripeEvent.objects.filter(pk=event.pk).update(organization=organization)
    if not event.subscription_id:
        raise _Outcome(StripeEventStatus.IGNORED, "The event is not about a subscription.")
    try:
        subscription_sync(organization=organization, subscription_id=event.subscription_id)
    except BillingError as error:
        raise _Outcome(StripeEventStatus.FAILED, error.message) from error


def _finish(event: StripeEvent, status: StripeEventStatus, error: str = "") -> StripeEvent:
    event.status = status
    event.error = error
    event.processed_at = timezone.now()
    StripeEvent.objects.filter(pk=event.pk).update(
        status=status, error=error, processed_at=event.processed_at
    )
    return event


def stripe_event_process(*, event: StripeEvent) -> StripeEvent:
    """Handle one stored event that this caller has claimed, and record the outcome.

    Processed, ignored (a type we do not handle, or not about a subscription) or failed (with
    the reason: unknown customer, Stripe refusing). A transient Stripe error is recorded as
    failed and re-raised (StripeTransientError) so the webhook asks Stripe to deliver again.
    """
    try:
        _handle(event)
    except _Outcome as outcome:
        if outcome.status == StripeEventStatus.FAILED:
            logger.warning("stripe event %s (%s) failed: %s", event.event_id, event.type, outcome)
        return _finish(event, outcome.status, outcome.error)
    except StripeTransientError as error:
        _finish(event, StripeEventStatus.FAILED, error.message)
        raise
    except StripeClientError as error:
        return _finish(event, StripeEventStatus.FAILED, error.message)
    return _finish(event, StripeEventStatus.PROCESSED)


def _claim(event: StripeEvent, statuses: tuple[StripeEventStatus, ...]) -> bool:
    """Take an event for (re)processing; only one caller wins (conditional UPDATE)."""
    claimed = StripeEvent.objects.filter(pk=event.pk, status__in=statuses).update(
        status=StripeEventStatus.RECEIVED, error="", attempts=F("attempts") + 1
    )
    if claimed:
        event.refresh_from_db()
    return bool(claimed)


def stripe_event_receive(*, parsed: WebhookEvent) -> tuple[StripeEvent, bool]:
    """Store a verified webhook event once and process it. Returns (event, was_new).

    A redelivered event (same id) changes nothing, except that one whose processing failed
    earlier is processed again, which is what Stripe's redelivery is for. The unique event id
    decides, not a check-then-insert, so two simultaneous deliveries store one row.
    """
    try:
        with transaction.atomic():
            event = StripeEvent.objects.create(
                event_id=parsed.id,
                type=parsed.type,
                stripe_created=parsed.created,
                livemode=parsed.livemode,
                object_id=parsed.object_id,
                customer_id=parsed.customer_id,
                subscription_id=parsed.subscription_id,
                client_reference_id=parsed.client_reference_id,
                attempts=1,
            )
    except IntegrityError:
        event = StripeEvent.objects.get(event_id=parsed.id)
        if not _claim(event, (StripeEventStatus.FAILED,)):
            return event, False
        return stripe_event_process(event=event), False
    return stripe_event_process(event=event), True


def stripe_webhook_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify a webhook delivery's signature, then store and process its event.

    Raises WebhookSignatureError (nothing stored) for a bad or stale signature, and
    StripeTransientError when Stripe could not be read back (the event is stored as failed;
    Stripe's redelivery processes it again).
    """
    parsed = StripeClient().construct_event(payload=payload, signature=signature)
    return stripe_event_receive(parsed=parsed)


def stripe_event_reprocess(*, event: StripeEvent) -> StripeEvent:
    """Process a failed (or stuck) event again, e.g. from the admin. Safe to call twice.

    Events that were processed or ignored are left alone. Transient Stripe errors are recorded
    on the event rather than raised.
    """
    # "received" covers an event whose processing died half-way. If it is in fact still being
    # processed, doing it twice is harmless: both runs converge on Stripe's current state.
    if not _claim(event, (StripeEventStatus.FAILED, StripeEventStatus.RECEIVED)):
        event.refresh_from_db()
        return event
    try:
        return stripe_event_process(event=event)
    except StripeTransientError:
        event.refresh_from_db()
        return event
