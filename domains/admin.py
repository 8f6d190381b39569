from __future__ import annotations

from django.contrib import admin

from domains.models import (
    Domain,
    DomainEvent,
    DomainNotification,
    RateBudgetCounter,
    SyncRun,
)


class DomainEventInline(admin.TabularInline):
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
class DomainAdmin(admin.ModelAdmin):
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
    list_filter = ["status", "cloudflare_status", "ssl_status", "ssl_method", "created_at"]
    search_fields = ["hostname", "cloudflare_id", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "created_at", "updated_at", "activated_at", "last_synced_at"]
    autocomplete_fields = ["organization"]
    date_hierarchy = "created_at"
    inlines = [DomainEventInline]


@admin.register(DomainEvent)
class DomainEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "hostname", "organization", "kind", "from_status", "to_status"]
    list_filter = ["kind", "to_status", "created_at"]
    search_fields = ["hostname", "message", "organization__name"]
    list_select_related = ["organization"]
    date_hierarchy = "created_at"

    # Append-only: history is never edited by hand.
    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(RateBudgetCounter)
class RateBudgetCounterAdmin(admin.ModelAdmin):
    list_display = ["name", "window_start", "used", "paused_until"]
    search_fields = ["name"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "trigger",
        "strategy",
        "due",
        "claimed",
        "fetched",
        "changed",
        "errors",
        "cloudflare_calls",
        "budget_exhausted",
    ]
    list_filter = ["strategy", "trigger", "budget_exhausted"]
    date_hierarchy = "started_at"

    # A record of what the loop did: written by the loop only.
    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(DomainNotification)
class DomainNotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "domain", "kind", "key", "sent_at", "error"]
    list_filter = ["kind", "created_at"]
    search_fields = ["domain__hostname", "key", "error"]
    list_select_related = ["domain"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
