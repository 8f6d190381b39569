from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import (
    SignedInRequest,
    get_api_token_or_404,
    get_membership_or_404,
    organization_required,
)
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken, Membership
from accounts.services import api_token_create, api_token_revoke, organization_switch
from dcvaas import once


@require_POST
@login_required
def organization_switch_view(request: SignedInRequest) -> HttpResponse:
    """Make another of the user's organizations the current one; others' answer 404."""
    try:
        organization_id = int(request.POST.get("organization", ""))
    except ValueError:
        organization_id = 0
    membership = get_membership_or_404(request.user, organization_id)
    organization_switch(user=request.user, organization=membership.organization)
    messages.info(request, f"Switched to {membership.organization.name}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "dashboard"
    return redirect(next_url)


@organization_required
def api_tokens(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """List the organization's tokens; owners and admins create them here.

    A new token's raw value is shown once, in the answer to the request that created it
    (`Cache-Control: no-store`), and stored nowhere: not in the session, not in a cache.
    """
    form = ApiTokenForm()
    new_token = None
    if request.method == "POST":
        if not membership.can_manage:
            raise PermissionDenied("Only owners and admins can create API tokens.")
        form = ApiTokenForm(request.POST)
        if not once.spend(request):
            messages.info(
                request,
                "That form was already sent: its token is in the list below (its value was shown "
                "once). Create another if you need a new one.",
            )
            return redirect("accounts:api_tokens")
        if form.is_valid():
            token, raw = api_token_create(
                organization=membership.organization,
                created_by=request.user,
                name=form.cleaned_data["name"],
            )
            new_token = {"id": token.pk, "raw": raw}
            form = ApiTokenForm()
    tokens = ApiToken.objects.filter(organization=membership.organization).select_related(
        "created_by"
    )
    response = render(
        request,
        "accounts/api_tokens.html",
        {"membership": membership, "form": form, "tokens": tokens, "new_token": new_token},
    )
    if new_token is not None:
        patch_cache_control(response, no_store=True, private=True)
    return response


@require_POST
@organization_required
def api_token_revoke_view(
    request: SignedInRequest, membership: Membership, token_id: int
) -> HttpResponse:
    token = get_api_token_or_404(membership, token_id)
    if not membership.can_manage:
        raise PermissionDenied("Only owners and admins can revoke API tokens.")
    api_token_revoke(token=token)
    messages.success(request, f"Revoked “{token.name}”. Requests using it now get 401.")
    return redirect("accounts:api_tokens")
