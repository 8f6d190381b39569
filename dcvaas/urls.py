from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import include, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from dcvaas import staff, views
from domains import views as domain_views
from domains.handoffs.urls import public_urlpatterns as handoff_public_urlpatterns


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login page, replaced: staff sign in like everyone, through GitHub.

    Signed-out visitors go to our sign-in with `next` back to the admin page they wanted;
    signed-in staff go straight there; anyone else signed in gets a 403 page that says what
    the admin is and how its operator becomes staff, not a password form.
    """
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return HttpResponseRedirect(next_url)
        return render(request, "staff/not_staff.html", status=403)
    return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("staff/status/", staff.status, name="staff-status"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("dashboard/", domain_views.dashboard, name="dashboard"),
    path("domains/", include("domains.urls")),
    *handoff_public_urlpatterns,
    path("api/v1/", include("domains.api_urls")),
    path("billing/", include("billing.urls")),
    # Cloudflare's notifications (push), ahead of the tenants' webhook pages.
    path("", include("domains.push.urls")),
    path("webhooks/", include("domains.webhooks.urls")),
    path("origins/", include("domains.origins.urls")),
    # Ahead of admin.site.urls, so it answers the admin's own "login/" URL.
    path(f"{settings.ADMIN_URL}login/", admin_login, name="admin-login"),
    path(settings.ADMIN_URL, admin.site.urls),
]
