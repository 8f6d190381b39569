from __future__ import annotations

from django.urls import path

from domains.handoffs import views

# Mounted twice: the public page at the site's root, the controls under /domains/.
public_urlpatterns = [
    path("dns/<str:token>/", views.handoff_page, name="handoff"),
    path(
        "dns-email/unsubscribe/<str:token>/",
        views.handoff_unsubscribe,
        name="handoff-unsubscribe",
    ),
]
domain_urlpatterns = [
    path("<uuid:domain_id>/handoffs/", views.handoff_new, name="handoff-new"),
    path(
        "<uuid:domain_id>/handoffs/<uuid:handoff_id>/revoke/",
        views.handoff_revoke_view,
        name="handoff-revoke",
    ),
]
