from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("organizations/switch/", views.organization_switch_view, name="switch"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("organization/", views.organization_settings, name="organization"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
]
