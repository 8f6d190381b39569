from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import (
    SignedInRequest,
    get_api_token_or_404,
    get_membership_or_404,
    organization_required,
)
from accounts.audit import ACTIONS, audit_events, csv_line, csv_rows
from accounts.forms import (
    ApiTokenForm,
    AuditFilterForm,
    OrganizationDeleteForm,
    OrganizationSettingsForm,
)
from accounts.members import (
    INVITABLE_ROLES,
    MemberError,
    invitation_accept,
    invitation_create,
    invitation_open,
    invitation_resend,
    invitation_revoke,
    member_change_role,
    member_leave,
    member_remove,
    ownership_transfer,
)
from accounts.models import ApiToken, Invitation, Membership, Organization, Role, User
from accounts.roles import Action, ensure
from accounts.roles import table as role_table
from accounts.services import (
    BRANDING_FIELDS,
    api_token_create,
    api_token_revoke,
    organization_delete,
    organization_switch,
    organization_update,
)
from dcvaas import once
from dcvaas.middleware import allow_https_images


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
        ensure(membership, Action.MANAGE_TOKENS)
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
                scope=form.cleaned_data["scope"],
                expires_in_days=form.cleaned_data["expires_in_days"],
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
    ensure(membership, Action.MANAGE_TOKENS)
    api_token_revoke(token=token)
    messages.success(request, f"Revoked “{token.name}”. Requests using it now get 401.")
    return redirect("accounts:api_tokens")


def _organization_page(
    request: SignedInRequest,
    membership: Membership,
    *,
    form: OrganizationSettingsForm | None = None,
    delete_form: OrganizationDeleteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    organization = membership.organization
    return render(
        request,
        "accounts/organization.html",
        {
            "membership": membership,
            "form": form or OrganizationSettingsForm(instance=organization),
            "delete_form": delete_form or OrganizationDeleteForm(organization=organization),
            "organization": organization,
            "roles": [role.label for role in Role],
            "role_table": role_table(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@allow_https_images()  # the logo's preview
@organization_required
def organization_settings(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """The organization's display name and branding; owners and admins change them."""
    if request.method != "POST":
        return _organization_page(request, membership)
    ensure(membership, Action.ORGANIZATION_SETTINGS)
    # A copy: a form that fails must not change the organization the page shows.
    editing = Organization.objects.get(pk=membership.organization_id)
    form = OrganizationSettingsForm(request.POST, instance=editing)
    if not form.is_valid():
        return _organization_page(request, membership, form=form, status=400)
    organization_update(
        organization=editing, **{name: form.cleaned_data[name] for name in BRANDING_FIELDS}
    )
    messages.success(request, "Saved. Hand-off pages show it from now on.")
    return redirect("accounts:organization")


@require_POST
@allow_https_images()  # the page again, when the name was mistyped
@organization_required
def organization_delete_view(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """Delete the organization (owners, with its name typed): see `organization_delete`."""
    ensure(membership, Action.DELETE_ORGANIZATION)
    organization = membership.organization
    form = OrganizationDeleteForm(request.POST, organization=organization)
    if not form.is_valid():
        return _organization_page(request, membership, delete_form=form, status=400)
    organization_delete(organization=organization, actor=request.user)
    # Its only organization gone, the next page makes a fresh, empty one of the person's own,
    # which may bear the same default name: say so, or the page would seem to show the old one.
    fresh = (
        " You are now in a new, empty organization of your own."
        if not Membership.objects.filter(user=request.user).exists()
        else ""
    )
    messages.success(
        request,
        f"{organization.name} is being deleted. Its domains are being removed from Cloudflare "
        "(HTTPS for them stops), its subscription is canceled, and nobody can open it any "
        f"more.{fresh}",
    )
    return redirect("dashboard")


# -- members ----------------------------------------------------------------------------------
def _member_of(membership: Membership, member_id: int) -> Membership:
    """A membership of the current organization; another organization's is a 404."""
    member = (
        Membership.objects.select_related("user")
        .filter(organization_id=membership.organization_id, pk=member_id)
        .first()
    )
    if member is None:
        raise Http404("No such member")
    return member


def _invitation_of(membership: Membership, invitation_id: int) -> Invitation:
    invitation = Invitation.objects.filter(
        organization_id=membership.organization_id, pk=invitation_id
    ).first()
    if invitation is None:
        raise Http404("No such invitation")
    return invitation


def _refused(request: SignedInRequest, error: MemberError) -> HttpResponse:
    messages.error(request, error.message)
    return redirect("accounts:members")


@organization_required
def members_page(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """The organization's people and pending invitations; owners and admins manage them."""
    members = (
        Membership.objects.filter(organization_id=membership.organization_id)
        .select_related("user")
        .order_by("user__username")
    )
    invitations = (
        Invitation.objects.pending()
        .filter(organization_id=membership.organization_id)
        .select_related("invited_by")
    )
    return render(
        request,
        "accounts/members.html",
        {
            "membership": membership,
            "members": members,
            "invitations": invitations,
            "roles": INVITABLE_ROLES,
            "invitation_days": settings.INVITATION_DAYS,
        },
    )


@require_POST
@organization_required
def member_invite(request: SignedInRequest, membership: Membership) -> HttpResponse:
    ensure(membership, Action.MEMBERS)
    try:
        invitation, _ = invitation_create(
            organization=membership.organization,
            email=request.POST.get("email", ""),
            role=request.POST.get("role", Role.MEMBER),
            invited_by=request.user,
        )
    except MemberError as error:
        return _refused(request, error)
    messages.success(request, f"Invited {invitation.email}: the link is in their email.")
    return redirect("accounts:members")


@require_POST
@organization_required
def invitation_resend_view(
    request: SignedInRequest, membership: Membership, invitation_id: int
) -> HttpResponse:
    ensure(membership, Action.MEMBERS)
    invitation = _invitation_of(membership, invitation_id)
    try:
        invitation_resend(invitation=invitation)
    except MemberError as error:
        return _refused(request, error)
    messages.success(request, f"Sent {invitation.email} a new link; the old one stopped working.")
    return redirect("accounts:members")


@require_POST
@organization_required
def invitation_revoke_view(
    request: SignedInRequest, membership: Membership, invitation_id: int
) -> HttpResponse:
    ensure(membership, Action.MEMBERS)
    invitation = _invitation_of(membership, invitation_id)
    invitation_revoke(invitation=invitation)
    messages.success(request, f"Revoked the invitation of {invitation.email}.")
    return redirect("accounts:members")


@require_POST
@organization_required
def member_role(request: SignedInRequest, membership: Membership, member_id: int) -> HttpResponse:
    ensure(membership, Action.MEMBERS)
    member = _member_of(membership, member_id)
    try:
        member_change_role(actor=membership, member=member, role=request.POST.get("role", ""))
    except MemberError as error:
        return _refused(request, error)
    messages.success(request, f"{member.user.username} is now {member.get_role_display()}.")
    return redirect("accounts:members")


@require_POST
@organization_required
def member_remove_view(
    request: SignedInRequest, membership: Membership, member_id: int
) -> HttpResponse:
    ensure(membership, Action.MEMBERS)
    member = _member_of(membership, member_id)
    if member.pk == membership.pk:
        return _refused(request, MemberError("self", "To leave, use “Leave” below."))
    try:
        member_remove(actor=membership, member=member)
    except MemberError as error:
        return _refused(request, error)
    messages.success(request, f"Removed {member.user.username} from {membership.organization}.")
    return redirect("accounts:members")


@require_POST
@organization_required
def member_make_owner(
    request: SignedInRequest, membership: Membership, member_id: int
) -> HttpResponse:
    ensure(membership, Action.TRANSFER_OWNERSHIP)
    member = _member_of(membership, member_id)
    try:
        ownership_transfer(actor=membership, member=member)
    except MemberError as error:
        return _refused(request, error)
    messages.success(request, f"{member.user.username} is an owner now; you are an admin.")
    return redirect("accounts:members")


@require_POST
@organization_required
def member_leave_view(request: SignedInRequest, membership: Membership) -> HttpResponse:
    try:
        member_leave(member=membership)
    except MemberError as error:
        return _refused(request, error)
    messages.success(request, f"You left {membership.organization.name}.")
    return redirect("dashboard")


@require_http_methods(["GET", "POST"])
@login_required
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee (signed in with GitHub) sees which organization and role, and accepts."""
    invitation = invitation_open(token)
    if invitation is None:
        raise Http404("This invitation does not work (any more). Ask for a new one.")
    user = cast(User, request.user)
    if request.method == "POST":
        try:
            invitation_accept(invitation=invitation, user=user)
        except MemberError as error:
            raise Http404(error.message) from None
        messages.success(request, f"Welcome to {invitation.organization.name}.")
        return redirect("dashboard")
    already = Membership.objects.filter(organization=invitation.organization, user=user).first()
    response = render(
        request, "accounts/invitation.html", {"invitation": invitation, "already": already}
    )
    patch_cache_control(response, no_store=True, private=True)
    # The link never leaves the site as a referrer; "no-referrer" would also make browsers
    # send `Origin: null` with the accept form, which CSRF protection (kept: joining an
    # organization is a change) rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


# -- the audit log ----------------------------------------------------------------------------
AUDIT_PAGE_SIZE = 50


@require_GET
@organization_required
def audit_log(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """Who did what, newest first, with filters; `?export=csv` downloads what is filtered."""
    ensure(membership, Action.AUDIT_LOG)
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_events(
        membership.organization_id,
        actor=filters.get("actor") or "",
        action=filters.get("action") or "",
        since=filters.get("since"),
        until=filters.get("until"),
    ).select_related("actor_user")
    if request.GET.get("export") == "csv":
        response = StreamingHttpResponse(
            (csv_line(row) for row in csv_rows(events.iterator())), content_type="text/csv"
        )
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        # Streamed (the log may be long); the decorator's type wants the common base.
        return cast(HttpResponse, response)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/audit.html",
        {
            "membership": membership,
            "form": form,
            "page": page,
            "actions": ACTIONS,
            "query": query.urlencode(),
            "retention_days": settings.AUDIT_RETENTION_DAYS,
        },
        status=200 if form.is_valid() or not request.GET else 400,
    )
