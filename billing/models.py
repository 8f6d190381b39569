from __future__ import annotations

from django.db import models
from django.utils import timezone

from billing.plans import LIVE_STATUSES, PlanKey, SubscriptionStatus


class Subscription(models.Model):
    """An organization's Stripe subscription, as Stripe last told us.

    Stripe is the source of truth: rows are only written from a subscription read back from
    Stripe (see `billing.services.subscription_sync`), never from what we expect to happen.
    """

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="subscription"
    )
    stripe_customer_id = models.CharField(max_length=255, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    stripe_price_id = models.CharField(max_length=255, blank=True, default="")
    plan = models.CharField(max_length=20, choices=PlanKey.choices, default=PlanKey.FREE)
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices)
    # Since Stripe API 2025-03-31 the billing period lives on the subscription items.
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Stripe's creation time of the subscription: when an organization has had several, the
    # newest live one is theirs (an order that does not depend on webhook arrival).
    stripe_created = models.DateTimeField(null=True, blank=True)
    # When the state in this row was read from Stripe. A write only lands if it was read no
    # earlier than the one it replaces, so a slow, older read never overwrites a newer one.
    stripe_state_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.organization} · {self.plan} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored"


class StripeEventQuerySet(models.QuerySet["StripeEvent"]):
    def reprocessable(self) -> StripeEventQuerySet:
        return self.filter(status=StripeEventStatus.FAILED)


class StripeEvent(models.Model):
    """One Stripe webhook event, stored once (the unique event id makes redelivery a no-op).

    Only what is needed to process it again is kept: ids, never the payload, because the
    handler re-reads the subscription from Stripe anyway.
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    stripe_created = models.DateTimeField()
    livemode = models.BooleanField(default=False)
    object_id = models.CharField(max_length=255, blank=True, default="")
    customer_id = models.CharField(max_length=255, blank=True, default="")
    subscription_id = models.CharField(max_length=255, blank=True, default="")
    client_reference_id = models.CharField(max_length=255, blank=True, default="")
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stripe_events",
    )
    status = models.CharField(
        max_length=20, choices=StripeEventStatus.choices, default=StripeEventStatus.RECEIVED
    )
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = StripeEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"


class ClosedCustomer(models.Model):
    """A Stripe customer whose organization was deleted. Stripe's events about it that arrive
    afterwards (the cancellation's own `customer.subscription.deleted`, sent moments later) are
    ignored with that reason, not failed for an unknown customer."""

    customer_id = models.CharField(max_length=255, unique=True)
    closed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.customer_id
