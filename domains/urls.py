from __future__ import annotations

from django.urls import path

from domains import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
]
