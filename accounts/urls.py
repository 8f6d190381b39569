from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("organizations/switch/", views.organization_switch_view, name="switch"),
]
