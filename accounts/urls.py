from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("organizations/switch/", views.organization_switch_view, name="switch"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("organization/", views.organization_settings, name="organization"),
    path("organization/delete/", views.organization_delete_view, name="organization-delete"),
    path("settings/members/", views.members_page, name="members"),
    path("settings/audit/", views.audit_log, name="audit"),
    path("settings/members/invite/", views.member_invite, name="member-invite"),
    path("settings/members/leave/", views.member_leave_view, name="member-leave"),
    path("settings/members/<int:member_id>/role/", views.member_role, name="member-role"),
    path(
        "settings/members/<int:member_id>/remove/", views.member_remove_view, name="member-remove"
    ),
    path(
        "settings/members/<int:member_id>/make-owner/",
        views.member_make_owner,
        name="member-make-owner",
    ),
    path(
        "settings/invitations/<int:invitation_id>/resend/",
        views.invitation_resend_view,
        name="invitation-resend",
    ),
    path(
        "settings/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation-revoke",
    ),
    path("invitations/<str:token>/", views.invitation_page, name="invitation"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
]
