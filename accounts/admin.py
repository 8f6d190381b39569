from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, AuditEvent, Invitation, Membership, Organization, User
from accounts.services import organization_delete


class MembershipInline(admin.TabularInline[Membership, User]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "organization"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    list_display = ["username", "email", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "date_joined"]
    search_fields = ["username", "email", "first_name", "last_name"]
    inlines = [MembershipInline]
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Organization", {"fields": ["current_organization"]}),
    )
    raw_id_fields = ["current_organization"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["name", "slug", "stripe_customer_id", "created_at", "deletion_requested_at"]
    list_filter = ["created_at", ("deletion_requested_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "stripe_customer_id", "memberships__user__username"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    date_hierarchy = "created_at"
    readonly_fields = ["deletion_requested_at", "deletion_requested_by"]
    actions = ["delete_offboarding"]

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        # Deleting the row would drop its domains without removing them from Cloudflare and
        # leave its subscription charging: the action below is the way.
        return False

    @admin.action(description="Delete, removing domains from Cloudflare and canceling the plan")
    def delete_offboarding(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        actor = request.user if isinstance(request.user, User) else None
        asked = sum(
            organization_delete(organization=organization, actor=actor) for organization in queryset
        )
        messages.success(
            request,
            f"{asked} organization{'s' if asked != 1 else ''} being deleted: domains leave "
            "Cloudflare and subscriptions are canceled in the background, then the rows go.",
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["user__username", "user__email", "organization__name", "organization__slug"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "display_prefix",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at", "last_used_at"]
    search_fields = ["name", "display_prefix", "organization__name", "organization__slug"]
    list_select_related = ["organization", "created_by"]
    # The digest is useless to a person and the raw token is never stored: nothing to edit.
    readonly_fields = ["digest", "display_prefix", "created_at", "last_used_at", "created_by"]
    autocomplete_fields = ["organization"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """The audit log, read-only: nobody changes or deletes an event by hand."""

    list_display = ["created_at", "organization", "actor_label", "action", "target_label"]
    list_filter = ["action", "created_at"]
    search_fields = ["organization__name", "actor_label", "target_label"]
    list_select_related = ["organization"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["email", "organization", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["email", "organization__name"]
    list_select_related = ["organization"]
    exclude = ["digest"]

    def has_add_permission(self, request: object) -> bool:
        return False
