"""Who may see what. One access helper per object type: other tenants' objects are a 404."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

from accounts.backends import MEMBERSHIPS_ATTRIBUTE, load_memberships
from accounts.models import ApiToken, Membership, User
from accounts.services import organization_ensure_personal

P = ParamSpec("P")
CURRENT_ATTRIBUTE = "_dcvaas_membership"


class SignedInRequest(HttpRequest):
    """What a view behind `organization_required` is given: a signed-in user (never
    anonymous) and django-htmx's details."""

    user: User
    htmx: HtmxDetails


def user_memberships(request: HttpRequest) -> list[Membership]:
    """Every membership of the signed-in user, with its organization, oldest first.

    One query per request, cached on it: the current membership, the header's organization
    switcher and the view all read this list.
    """
    if not hasattr(request, MEMBERSHIPS_ATTRIBUTE):
        user = request.user
        # Loaded with the user by the authentication backend, when the session's user is.
        memberships = getattr(user, MEMBERSHIPS_ATTRIBUTE, None)
        if memberships is None:
            memberships = load_memberships(user.pk) if user.is_authenticated else []
        setattr(request, MEMBERSHIPS_ATTRIBUTE, memberships)
    loaded: list[Membership] = getattr(request, MEMBERSHIPS_ATTRIBUTE)
    return loaded


def current_membership(request: HttpRequest) -> Membership | None:
    """The signed-in user's membership in their current organization (or their first one)."""
    if hasattr(request, CURRENT_ATTRIBUTE):
        current: Membership | None = getattr(request, CURRENT_ATTRIBUTE)
        return current
    memberships = user_memberships(request)
    current_id = getattr(request.user, "current_organization_id", None)
    membership = next(
        (m for m in memberships if m.organization_id == current_id),
        memberships[0] if memberships else None,
    )
    setattr(request, CURRENT_ATTRIBUTE, membership)
    return membership


def _forget_memberships(request: HttpRequest) -> None:
    for owner in (request, request.user):
        for attribute in (MEMBERSHIPS_ATTRIBUTE, CURRENT_ATTRIBUTE):
            if hasattr(owner, attribute):
                delattr(owner, attribute)


def organization_required(
    view: Callable[Concatenate[SignedInRequest, Membership, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Sign-in required; the view receives a `SignedInRequest` and the current membership as
    its second argument.

    A user with no organization at all (staff made with `createsuperuser`, never signed up
    through GitHub) is given their personal one here.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        signed_in = cast(SignedInRequest, request)  # login_required let only users through
        membership = current_membership(signed_in)
        if membership is None:
            organization_ensure_personal(user=signed_in.user)
            _forget_memberships(signed_in)
            membership = current_membership(signed_in)
            assert membership is not None
        return view(signed_in, membership, *args, **kwargs)

    checked: Callable[Concatenate[HttpRequest, P], HttpResponse] = login_required(wrapper)
    return checked


def get_membership_or_404(user: User | Any, organization_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization_id=organization_id)
        .first()
    )
    if membership is None:
        raise Http404("No such organization")
    return membership


def get_api_token_or_404(membership: Membership, token_id: int) -> ApiToken:
    """A token of the current organization; any other organization's token is a 404."""
    token = ApiToken.objects.filter(organization=membership.organization, pk=token_id).first()
    if token is None:
        raise Http404("No such token")
    return token
