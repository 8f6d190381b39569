from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from domains.cloudflare import DCVMethod, HostnameStatus, SSLStatus
from domains.models import (
    CloudflareHint,
    DnsCheck,
    DnsHostDetection,
    Domain,
    DomainEvent,
    DomainNotification,
    DomainStatus,
    EmailUnsubscribe,
    Handoff,
    HandoffEmail,
    Origin,
    RateBudgetCounter,
    SyncRun,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
    ZoneEntitlement,
)
from domains.origins.services import custom_origins_allow


def known_values_filter(field: str, title: str, values: Iterable[str]) -> type[admin.ListFilter]:
    """A list filter offering known values, not the column's distinct values: Django's default
    for a field without choices reads the whole table on every changelist."""
    lookups_ = [(value, value.replace("_", " ")) for value in values]

    class KnownValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return lookups_

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    KnownValuesFilter.title = title
    return KnownValuesFilter


class DomainEventInline(admin.TabularInline[DomainEvent, Domain]):
    model = DomainEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_status", "to_status", "message")
    readonly_fields = fields
    ordering = ["-created_at"]
    show_change_link = True

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin[Domain]):
    list_display = [
        "hostname",
        "organization",
        "status",
        "cloudflare_status",
        "ssl_status",
        "certificate_expires_at",
        "next_sync_at",
        "sync_attempts",
        "created_at",
    ]
    # Filters that cost no query of their own, and no date drill-down or full count: each of
    # those reads the whole table on every look, and the table holds every tenant's domains.
    list_filter = [
        "status",
        known_values_filter("cloudflare_status", "Cloudflare hostname status", HostnameStatus),
        known_values_filter("ssl_status", "certificate status", SSLStatus),
        known_values_filter("ssl_method", "validation method", DCVMethod),
        "created_at",
    ]
    show_full_result_count = False
    search_fields = ["hostname", "cloudflare_id", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = [
        "id",
        "created_at",
        "updated_at",
        "activated_at",
        "last_synced_at",
        "origin_server",
        "origin_applied",
    ]
    autocomplete_fields = ["organization"]
    raw_id_fields = ["origin"]
    inlines = [DomainEventInline]


@admin.register(DomainEvent)
class DomainEventAdmin(admin.ModelAdmin[DomainEvent]):
    list_display = ["created_at", "hostname", "organization", "kind", "from_status", "to_status"]
    list_filter = [
        "kind",
        known_values_filter("to_status", "to status", DomainStatus.values),
        "created_at",
    ]
    show_full_result_count = False
    search_fields = ["hostname", "message", "organization__name"]
    list_select_related = ["organization"]

    # Append-only: history is never edited by hand.
    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(RateBudgetCounter)
class RateBudgetCounterAdmin(admin.ModelAdmin[RateBudgetCounter]):
    list_display = ["name", "window_start", "used", "paused_until"]
    search_fields = ["name"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin[SyncRun]):
    list_display = [
        "started_at",
        "finished_at",
        "trigger",
        "strategy",
        "listing_label",
        "due",
        "claimed",
        "fetched",
        "changed",
        "errors",
        "cloudflare_calls",
        "budget_exhausted",
        "listing_failed",
    ]
    list_filter = ["strategy", "trigger", "budget_exhausted", "listing_failed"]
    date_hierarchy = "started_at"

    # A record of what the loop did: written by the loop only.
    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(DomainNotification)
class DomainNotificationAdmin(admin.ModelAdmin[DomainNotification]):
    list_display = ["created_at", "domain", "kind", "key", "sent_at", "error"]
    list_filter = ["kind", "created_at"]
    search_fields = ["domain__hostname", "key", "error"]
    list_select_related = ["domain"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin[Handoff]):
    """Hand-off links: staff see when they were made, opened and checked, and may revoke one
    (set "revoked at"); the secret itself is nowhere to see."""

    list_display = ["domain", "created_at", "expires_at", "revoked_at", "last_viewed_at"]
    list_filter = ["created_at", "expires_at"]
    search_fields = ["domain__hostname"]
    list_select_related = ["domain"]
    exclude = ["digest"]
    readonly_fields = ["domain", "created_by", "created_at", "last_viewed_at", "last_checked_at"]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(DnsHostDetection)
class DnsHostDetectionAdmin(admin.ModelAdmin[DnsHostDetection]):
    list_display = ["domain", "zone", "host", "confidence", "checked_at"]
    list_filter = ["host", "confidence"]
    search_fields = ["domain__hostname", "zone"]
    list_select_related = ["domain"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(DnsCheck)
class DnsCheckAdmin(admin.ModelAdmin[DnsCheck]):
    """Each domain's records as last checked at its DNS host and at the resolver."""

    list_display = ["domain", "checked_at"]
    search_fields = ["domain__hostname"]
    list_select_related = ["domain"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(HandoffEmail)
class HandoffEmailAdmin(admin.ModelAdmin[HandoffEmail]):
    """The hand-off emails owed and sent: a row without `sent_at` is due; `skipped` says why
    one was closed unsent; `last_error` why a send failed."""

    list_display = ["handoff", "kind", "day", "due_at", "sent_at", "skipped", "attempts"]
    list_filter = ["kind", "skipped"]
    search_fields = ["handoff__domain__hostname", "handoff__recipient_email"]
    list_select_related = ["handoff"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(EmailUnsubscribe)
class EmailUnsubscribeAdmin(admin.ModelAdmin[EmailUnsubscribe]):
    """Recipients who asked for no more DNS emails from an organization; deleting a row lets
    the organization email them again."""

    list_display = ["email", "organization", "created_at"]
    search_fields = ["email", "organization__name"]
    list_select_related = ["organization"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    list_display = ["url", "organization", "enabled", "failing_since", "created_at"]
    list_filter = ["enabled", "created_at"]
    search_fields = ["url", "description", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]
    # The secrets sign deliveries: never shown, never typed by hand.
    exclude = ["secret", "previous_secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["failing_since", "disabled_reason", "previous_secret_until", "created_at"]


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin[WebhookMessage]):
    list_display = ["id", "type", "organization", "created_at"]
    list_filter = ["type", "created_at"]
    search_fields = ["id", "organization__name"]
    list_select_related = ["organization"]
    show_full_result_count = False

    # The outbox: written with the change it describes, never by hand.
    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = [
        "message",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "message__type", "created_at"]
    search_fields = ["message__id", "endpoint__url", "last_error"]
    list_select_related = ["message", "endpoint"]
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Origin)
class OriginAdmin(admin.ModelAdmin[Origin]):
    """Origins and their DNS records' state. Changes go through the dashboard or the API, which
    write the record and move the domains; here staff look, search and filter."""

    list_display = [
        "name",
        "organization",
        "address",
        "is_default",
        "state",
        "record_name",
        "attempts",
        "updated_at",
    ]
    list_filter = ["state", "is_default", "record_type"]
    show_full_result_count = False
    search_fields = ["name", "address", "record_name", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = [f.name for f in Origin._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ZoneEntitlement)
class ZoneEntitlementAdmin(admin.ModelAdmin[ZoneEntitlement]):
    """Whether Cloudflare lets the zone set custom origin servers (it answered 1414 if not)."""

    list_display = ["__str__", "custom_origins_refused_at", "custom_origins_message"]
    readonly_fields = ["custom_origins_refused_at", "custom_origins_message"]
    actions = ["allow_custom_origins"]

    @admin.action(description="Try custom origins again (after Cloudflare enabled them)")
    def allow_custom_origins(
        self, request: HttpRequest, queryset: QuerySet[ZoneEntitlement]
    ) -> None:
        custom_origins_allow()
        self.message_user(request, "Custom origins are on again; domains move to their origins.")

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(CloudflareHint)
class CloudflareHintAdmin(admin.ModelAdmin[CloudflareHint]):
    """Cloudflare's notifications and what became of each (failed ones say why)."""

    list_display = ["received_at", "event_type", "hostname", "hostname_id", "outcome", "detail"]
    list_filter = ["outcome"]
    show_full_result_count = False
    search_fields = ["hostname", "hostname_id", "event_id"]
    readonly_fields = [f.name for f in CloudflareHint._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
