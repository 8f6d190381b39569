"""The Origins pages: where an organization's customers' traffic goes."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import SignedInRequest, organization_required
from accounts.models import Membership
from accounts.roles import Action, ensure
from domains.errors import DomainError
from domains.models import Domain, Origin, ZoneEntitlement
from domains.origins.access import get_origin_or_404
from domains.origins.api import with_counts
from domains.origins.forms import OriginForm
from domains.origins.probe import origin_test
from domains.origins.services import (
    origin_create,
    origin_delete,
    origin_make_default,
    origin_update,
    origin_use,
)

DOMAINS_SHOWN = 50


def _managing(membership: Membership) -> None:
    ensure(membership, Action.MANAGE_ORIGINS)


def _common(membership: Membership) -> dict[str, object]:
    return {
        "membership": membership,
        "refusal": ZoneEntitlement.custom_origins_refusal(),
        "sni_mode": settings.CLOUDFLARE_ORIGIN_SNI,
    }


@organization_required
def origins_page(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """The organization's origins; owners and admins add them here."""
    form = OriginForm()
    if request.method == "POST":
        _managing(membership)
        form = OriginForm(request.POST)
        if form.is_valid():
            try:
                origin = origin_create(
                    organization=membership.organization,
                    name=form.cleaned_data["name"],
                    address=form.cleaned_data["address"],
                    make_default=form.cleaned_data["is_default"],
                )
            except DomainError as error:
                form.add_error(error.field or None, error.message)
            else:
                messages.success(
                    request,
                    f"Added {origin.name}. Its DNS record is being written; "
                    + (
                        "your domains move to it in a moment."
                        if origin.is_default
                        else "choose it for a domain on the domain's page."
                    ),
                )
                return redirect("origins:detail", origin_id=origin.pk)
    origins = with_counts(
        Origin.objects.filter(organization=membership.organization), membership.organization_id
    )
    context = {**_common(membership), "form": form, "origins": origins}
    return render(request, "origins/page.html", context, status=400 if form.errors else 200)


@organization_required
def origin_page(
    request: SignedInRequest, membership: Membership, origin_id: uuid.UUID
) -> HttpResponse:
    """One origin: change it, make it the default, test it, remove it; the domains it serves."""
    origin = get_origin_or_404(membership.organization_id, origin_id, removing_too=True)
    form = OriginForm(initial={"name": origin.name, "address": origin.address})
    if request.method == "POST":
        _managing(membership)
        form = OriginForm(request.POST)
        if form.is_valid():
            try:
                origin = origin_update(
                    origin=origin,
                    name=form.cleaned_data["name"],
                    address=form.cleaned_data["address"],
                )
            except DomainError as error:
                form.add_error(error.field or None, error.message)
            else:
                messages.success(request, f"Saved {origin.name}.")
                return redirect("origins:detail", origin_id=origin.pk)
    served = Domain.objects.filter(organization_id=membership.organization_id)
    served = served.filter(
        Q(origin=origin) | Q(origin__isnull=True) if origin.is_default else Q(origin=origin)
    ).only("id", "hostname", "status", "origin_server", "origin_applied")
    context = {
        **_common(membership),
        "origin": origin,
        "form": form,
        "use": origin_use(origin),
        "domains": served.order_by("hostname")[:DOMAINS_SHOWN],
    }
    return render(request, "origins/origin.html", context, status=400 if form.errors else 200)


@require_POST
@organization_required
def origin_action(
    request: SignedInRequest, membership: Membership, origin_id: uuid.UUID, action: str
) -> HttpResponse:
    """Make default, remove, or test (the test is open to every member: it changes nothing)."""
    origin = get_origin_or_404(membership.organization_id, origin_id)
    if action == "test":
        result = origin_test(origin)
        context = {
            **_common(membership),
            "origin": origin,
            "result": result,
        }
        if request.htmx:
            return render(request, "origins/origin.html#test-result", context)
        (messages.success if result.ok else messages.warning)(request, result.message)
        return redirect("origins:detail", origin_id=origin.pk)
    _managing(membership)
    try:
        if action == "default":
            origin_make_default(origin=origin)
            messages.success(
                request, f"{origin.name} is the default: the domains that follow it move now."
            )
        elif action == "delete":
            origin_delete(origin=origin)
            messages.success(
                request, f"Removing {origin.name}: its DNS record goes once no domain uses it."
            )
            return redirect("origins:page")
        else:
            return HttpResponse("Unknown action", status=400)
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("origins:detail", origin_id=origin.pk)
