from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from dcvaas import staff, views
from domains import views as domain_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("staff/status/", staff.status, name="staff-status"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("dashboard/", domain_views.dashboard, name="dashboard"),
    path("domains/", include("domains.urls")),
    path("api/v1/", include("domains.api_urls")),
    path("billing/", include("billing.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]
