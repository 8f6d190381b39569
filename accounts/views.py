from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import get_membership_or_404
from accounts.services import organization_switch


@require_POST
@login_required
def organization_switch_view(request: HttpRequest) -> HttpResponse:
    """Make another of the user's organizations the current one; others' answer 404."""
    try:
        organization_id = int(request.POST.get("organization", ""))
    except ValueError:
        organization_id = 0
    membership = get_membership_or_404(request.user, organization_id)  # type: ignore[arg-type]
    organization_switch(user=request.user, organization=membership.organization)  # type: ignore[arg-type]
    messages.info(request, f"Switched to {membership.organization.name}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "dashboard"
    return redirect(next_url)
