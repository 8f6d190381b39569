"""The audit log in the token API (`/api/v1/audit-events`): the organization's events, newest
first, filtered like the page."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.audit import ACTIONS, audit_events
from accounts.members import (
    INVITABLE_ROLES,
    MemberError,
    invitation_create,
    invitation_revoke,
)
from accounts.models import Invitation, Membership
from dcvaas.api import (
    BAD_PARAMETER,
    ERRORS,
    NO_SUCH_PAGE,
    PAGE_PARAMETERS,
    ErrorSerializer,
    OutputSerializer,
    PageParameters,
    Pagination,
    StrictApiView,
    StrictInputSerializer,
    UtcDateTimeField,
    page_of,
    request_token,
)


class AuditEventSerializer(OutputSerializer):
    id = serializers.IntegerField()
    created_at = UtcDateTimeField()
    action = serializers.ChoiceField(choices=list(ACTIONS))
    actor = serializers.CharField(
        source="actor_label", help_text="Who: a user name, a token, or empty for the system."
    )
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target = serializers.CharField(source="target_label")
    changes = serializers.DictField(help_text="What changed: {field: [before, after]} or facts.")
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()


class AuditFilter(PageParameters):
    actor = serializers.CharField(required=False, max_length=150, help_text="Part of the name.")
    action = serializers.ChoiceField(required=False, choices=list(ACTIONS))
    since = serializers.DateField(required=False, help_text="From this day (YYYY-MM-DD).")
    until = serializers.DateField(required=False, help_text="Up to this day, inclusive.")


AuditPageSerializer = page_of("AuditEventPage", AuditEventSerializer)


class AuditEventListApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS | {"actor", "action", "since", "until"}}

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditFilter],
        responses={200: AuditPageSerializer, **BAD_PARAMETER, **ERRORS, **NO_SUCH_PAGE},
    )
    def get(self, request: Request) -> Response:
        """Who did what in the organization, newest first (kept AUDIT_RETENTION_DAYS)."""
        filters = AuditFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        events = audit_events(
            request_token(request).organization_id,
            actor=data.get("actor", ""),
            action=data.get("action", ""),
            since=data.get("since"),
            until=data.get("until"),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)


# -- members and invitations --------------------------------------------------------------------
class MemberSerializer(OutputSerializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    role = serializers.CharField()
    joined_at = UtcDateTimeField(source="created_at")
    last_signed_in_at = UtcDateTimeField(source="user.last_login", allow_null=True)


class InvitationSerializer(OutputSerializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True)
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField()


class InvitationInputSerializer(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=[str(r) for r in INVITABLE_ROLES], default="member")


MemberPageSerializer = page_of("MemberPage", MemberSerializer)
InvitationPageSerializer = page_of("InvitationPage", InvitationSerializer)
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such invitation here.")}


def _refusal(error: MemberError) -> Response:
    body: dict[str, Any] = {"code": error.code, "detail": error.message}
    if error.field:
        body["errors"] = {error.field: [{"code": error.code, "message": error.message}]}
    http_status = status.HTTP_409_CONFLICT if error.code.startswith("already") else 400
    return Response(body, status=http_status)


class MemberListApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS}

    @extend_schema(
        operation_id="members_list",
        parameters=[PageParameters],
        responses={200: MemberPageSerializer, **BAD_PARAMETER, **ERRORS, **NO_SUCH_PAGE},
    )
    def get(self, request: Request) -> Response:
        """The organization's members with their roles."""
        PageParameters(data=request.query_params).is_valid(raise_exception=True)
        members = (
            Membership.objects.filter(organization_id=request_token(request).organization_id)
            .select_related("user")
            .order_by("user__username", "id")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(members, request, view=self)
        return paginator.get_paginated_response(MemberSerializer(page, many=True).data)


class InvitationListCreateApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS}

    @extend_schema(
        operation_id="invitations_list",
        parameters=[PageParameters],
        responses={200: InvitationPageSerializer, **BAD_PARAMETER, **ERRORS, **NO_SUCH_PAGE},
    )
    def get(self, request: Request) -> Response:
        """Pending invitations (not accepted, revoked or expired), newest first."""
        PageParameters(data=request.query_params).is_valid(raise_exception=True)
        pending = (
            Invitation.objects.pending()
            .filter(organization_id=request_token(request).organization_id)
            .select_related("invited_by")
            .order_by("-created_at", "-id")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(pending, request, view=self)
        return paginator.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(
        operation_id="invitations_create",
        request=InvitationInputSerializer,
        examples=[
            OpenApiExample(
                "Invite a colleague",
                value={"email": "colleague@agency.example", "role": "member"},
                request_only=True,
            )
        ],
        responses={
            201: InvitationSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Already a member or invited."),
            **BAD_PARAMETER,
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        """Invite someone by email in a role (admin or member): they get a link that works
        once, for INVITATION_DAYS, and sign in with GitHub to accept."""
        token = request_token(request)
        data = InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            invitation, _ = invitation_create(
                organization=token.organization,
                email=data.validated_data["email"],
                role=data.validated_data["role"],
                invited_by=token.created_by,
            )
        except MemberError as error:
            return _refusal(error)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(StrictApiView):
    @extend_schema(
        operation_id="invitations_revoke",
        responses={204: OpenApiResponse(description="Revoked."), **ERRORS, **NOT_FOUND},
    )
    def delete(self, request: Request, invitation_id: int) -> Response:
        """Revoke the invitation: its link answers 404 from now on. Idempotent."""
        invitation = get_object_or_404(
            Invitation, pk=invitation_id, organization_id=request_token(request).organization_id
        )
        invitation_revoke(invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)
