from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.access import organization_required
from accounts.models import Membership


@organization_required
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(
        request,
        "domains/dashboard.html",
        {"membership": membership, "organization": membership.organization},
    )
