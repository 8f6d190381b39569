from __future__ import annotations

from django.urls import path

from domains import views
from domains.handoffs.urls import domain_urlpatterns as handoff_urlpatterns

app_name = "domains"

urlpatterns = [
    path("add/", views.domain_add, name="add"),
    path("<uuid:domain_id>/", views.domain_detail, name="detail"),
    path("<uuid:domain_id>/status/", views.domain_status, name="status"),
    path("<uuid:domain_id>/check/", views.domain_check, name="check"),
    path("<uuid:domain_id>/remove/", views.domain_remove, name="remove"),
    path("<uuid:domain_id>/origin/", views.domain_origin, name="origin"),
    path("<uuid:domain_id>/www/", views.domain_add_www, name="add-www"),
    *handoff_urlpatterns,
]
