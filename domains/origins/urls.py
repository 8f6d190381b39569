from __future__ import annotations

from django.urls import path

from domains.origins import views

app_name = "origins"

urlpatterns = [
    path("", views.origins_page, name="page"),
    path("<uuid:origin_id>/", views.origin_page, name="detail"),
    path("<uuid:origin_id>/<slug:action>/", views.origin_action, name="action"),
]
