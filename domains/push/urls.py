"""Cloudflare's notifications arrive at /webhooks/cloudflare (no trailing slash, as configured at
Cloudflare; both work)."""

from __future__ import annotations

from django.urls import path

from domains.push import views

urlpatterns = [
    path("webhooks/cloudflare", views.cloudflare_webhook, name="cloudflare-webhook"),
    path("webhooks/cloudflare/", views.cloudflare_webhook),
]
