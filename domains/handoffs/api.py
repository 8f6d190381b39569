"""Hand-off links in the token API (`/api/v1/domains/{id}/handoffs`): the same services as the
domain page. Another organization's domains and links answer 404."""

from __future__ import annotations

import uuid

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

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
    refusal_response,
    request_token,
)
from domains.access import get_domain_or_404
from domains.errors import DomainError
from domains.handoffs.services import MAX_DAYS, handoff_create, handoff_revoke, handoff_url
from domains.models import Handoff

NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such domain or link here.")}


class HandoffOutputSerializer(OutputSerializer):
    id = serializers.UUIDField()
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField()
    revoked_at = UtcDateTimeField(allow_null=True)
    last_viewed_at = UtcDateTimeField(
        allow_null=True, help_text="When the link's page was last opened."
    )
    last_checked_at = UtcDateTimeField(
        allow_null=True, help_text="When “Check my records” was last pressed there."
    )
    recipient_email = serializers.CharField(
        help_text="Where the instructions and reminders are emailed; empty if nowhere."
    )


class HandoffCreatedSerializer(HandoffOutputSerializer):
    url = serializers.URLField(
        help_text="The link. Shown in this answer only: store it or send it."
    )


class HandoffInputSerializer(StrictInputSerializer):
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_DAYS,
        help_text="How long the link works; HANDOFF_DAYS (14) by default.",
    )
    email = serializers.EmailField(
        required=False,
        max_length=254,
        help_text="Email the instructions there now, and reminders after about 1, 3 and 6 days "
        "until the domain is active (each email has a one-click unsubscribe).",
    )


HandoffPageSerializer = page_of("HandoffPage", HandoffOutputSerializer)


class HandoffListCreateApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS}

    @extend_schema(
        operation_id="domains_handoffs_list",
        parameters=[PageParameters],
        responses={
            200: HandoffPageSerializer,
            **BAD_PARAMETER,
            **ERRORS,
            **NOT_FOUND,
            **NO_SUCH_PAGE,
        },
    )
    def get(self, request: Request, domain_id: uuid.UUID) -> Response:
        """The domain's hand-off links, newest first (revoked and expired ones included)."""
        PageParameters(data=request.query_params).is_valid(raise_exception=True)
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            Handoff.objects.filter(domain=domain).order_by("-created_at", "id"), request, view=self
        )
        return paginator.get_paginated_response(HandoffOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="domains_handoffs_create",
        request=HandoffInputSerializer,
        responses={201: HandoffCreatedSerializer, **BAD_PARAMETER, **ERRORS, **NOT_FOUND},
    )
    def post(self, request: Request, domain_id: uuid.UUID) -> Response:
        """A link to the domain's DNS instructions for whoever manages its DNS: no account
        needed, expiring, revocable. Its URL is in this answer only."""
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        data = HandoffInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            handoff, raw = handoff_create(
                domain=domain,
                days=data.validated_data.get("days"),
                email=data.validated_data.get("email"),
            )
        except DomainError as error:
            return refusal_response(error)
        body = dict(HandoffOutputSerializer(handoff).data)
        body["url"] = handoff_url(raw)
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class HandoffDetailApi(StrictApiView):
    @extend_schema(
        operation_id="domains_handoffs_revoke",
        responses={200: HandoffOutputSerializer, **ERRORS, **NOT_FOUND},
    )
    def delete(self, request: Request, domain_id: uuid.UUID, handoff_id: uuid.UUID) -> Response:
        """Revoke the link: it answers 404 from now on, like an unknown one. Idempotent."""
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        handoff = get_object_or_404(Handoff, pk=handoff_id, domain=domain)
        return Response(HandoffOutputSerializer(handoff_revoke(handoff=handoff)).data)
