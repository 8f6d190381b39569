from __future__ import annotations

from django.urls import path

from domains.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhooks_page, name="page"),
    path("docs/", views.docs_page, name="docs"),
    path("<uuid:endpoint_id>/", views.endpoint_page, name="endpoint"),
    path(
        "<uuid:endpoint_id>/<slug:action>/",
        views.endpoint_action,
        name="action",
    ),
    path(
        "<uuid:endpoint_id>/deliveries/<int:delivery_id>/resend/",
        views.delivery_resend,
        name="resend",
    ),
]
