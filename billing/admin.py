from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import StripeEvent, StripeEventStatus, Subscription
from billing.services import stripe_event_reprocess


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = (
        "organization",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "stripe_subscription_id",
        "updated_at",
    )
    list_filter = ("status", "plan", "cancel_at_period_end")
    search_fields = (
        "organization__name",
        "organization__slug",
        "stripe_subscription_id",
        "stripe_customer_id",
    )
    list_select_related = ("organization",)
    # Written only from Stripe's state: editing here would be overwritten by the next event.
    readonly_fields = tuple(
        field.name for field in Subscription._meta.get_fields() if field.concrete
    )


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin[StripeEvent]):
    list_display = (
        "event_id",
        "type",
        "status",
        "organization",
        "stripe_created",
        "received_at",
        "attempts",
        "short_error",
    )
    list_filter = ("status", "type", "livemode")
    search_fields = (
        "event_id",
        "object_id",
        "customer_id",
        "subscription_id",
        "organization__name",
    )
    list_select_related = ("organization",)
    readonly_fields = tuple(
        field.name for field in StripeEvent._meta.get_fields() if field.concrete
    )
    actions = ("reprocess",)

    @admin.display(description="Error")
    def short_error(self, obj: StripeEvent) -> str:
        return obj.error[:80]

    @admin.action(description="Reprocess selected failed events")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        outcomes: dict[str, int] = {}
        for event in queryset:
            status = stripe_event_reprocess(event=event).status
            outcomes[status] = outcomes.get(status, 0) + 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        failed = outcomes.get(StripeEventStatus.FAILED, 0)
        self.message_user(
            request,
            f"Reprocessed: {summary or 'nothing'}.",
            messages.WARNING if failed else messages.SUCCESS,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
