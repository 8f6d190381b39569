"""The token API for origins (`/api/v1/origins`): the same services as the Origins page.
Another organization's origins answer 404; a domain is never attached to one."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
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
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    UtcDateTimeField,
    page_of,
    refusal_response,
    request_token,
)
from domains.errors import DomainError
from domains.models import Domain, Origin, OriginState, ZoneEntitlement
from domains.origins.access import get_origin_or_404
from domains.origins.services import (
    origin_create,
    origin_delete,
    origin_make_default,
    origin_update,
)

NOT_FOUND = {
    404: OpenApiResponse(ErrorSerializer, description="No such origin here."),
    **BAD_PARAMETER,
}
REFUSED = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid or refused name or address."),
    402: OpenApiResponse(ErrorSerializer, description="The plan's origin limit is reached."),
    409: OpenApiResponse(ErrorSerializer, description="The name is taken (`name_taken`)."),
}


class OriginOutputSerializer(OutputSerializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    address = serializers.CharField(help_text="The app's hostname or public IP address.")
    is_default = serializers.BooleanField(
        help_text="Serves every domain that has no origin of its own."
    )
    record_name = serializers.CharField(
        help_text="The DNS record in our zone that stands for this origin (Cloudflare's "
        "custom origin server, and the SNI your app receives by default)."
    )
    state = serializers.ChoiceField(
        choices=OriginState.choices,
        help_text="pending: the record is being written; ready: in place; failed: see "
        "last_error; deleting: its domains move away, then it goes.",
    )
    last_error = serializers.CharField()
    domain_count = serializers.IntegerField(
        help_text="Domains it serves, or will once they have moved (the default's followers "
        "included)."
    )
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()


class OriginInputSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=100, help_text="Yours to choose: “Production”.")
    address = StrictCharField(
        max_length=300, help_text="Your app's hostname (myapp.fly.dev) or public IP address."
    )
    is_default = StrictBooleanField(
        required=False, help_text="Make it the default (the first origin always is)."
    )


EXAMPLE = OpenApiExample(
    "An origin",
    value={
        "id": "5f0c6d1e-8a43-4f53-9d7e-2b1c0e6f4a10",
        "name": "Production",
        "address": "myapp.fly.dev",
        "is_default": True,
        "record_name": "o7k2m9x4q1ab.origins.pcnaid.com",
        "state": "ready",
        "last_error": "",
        "domain_count": 12,
        "created_at": "2026-11-27T10:00:00Z",
        "updated_at": "2026-11-27T10:00:04Z",
    },
    response_only=True,
)
INPUT_EXAMPLE = OpenApiExample(
    "Add an origin",
    value={"name": "Production", "address": "myapp.fly.dev", "is_default": True},
    request_only=True,
)


def with_counts(origins: Any, organization_id: int) -> list[Origin]:
    """The origins with `domain_count`: one query for the counts of chosen domains, one for
    the default's followers."""
    return _add_followers(list(_counted(origins)), organization_id)


def _counted(origins: Any) -> Any:
    # Meta.ordering is dropped from a GROUP BY query: order it explicitly.
    return origins.annotate(chosen=Count("domains")).order_by("name", "created_at")


def _add_followers(rows: list[Any], organization_id: int) -> list[Origin]:
    followers = Domain.objects.filter(organization_id=organization_id, origin__isnull=True)
    following = followers.count() if any(o.is_default for o in rows) else 0
    for origin in rows:
        origin.domain_count = origin.chosen + (following if origin.is_default else 0)
    return rows


def _one(origin: Origin) -> dict[str, Any]:
    (counted,) = with_counts(Origin.objects.filter(pk=origin.pk), origin.organization_id)
    return dict(OriginOutputSerializer(counted).data)


OriginPageSerializer = page_of("OriginPage", OriginOutputSerializer)


class OriginListCreateApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS}

    @extend_schema(
        operation_id="origins_list",
        parameters=[PageParameters],
        responses={200: OriginPageSerializer, **BAD_PARAMETER, **ERRORS, **NO_SUCH_PAGE},
    )
    def get(self, request: Request) -> Response:
        """The organization's origins, by name, 50 a page. When Cloudflare has not enabled
        custom origins for our zone, the `X-Origins-Disabled` header says so (domains are then
        served from the shared default origin)."""
        PageParameters(data=request.query_params).is_valid(raise_exception=True)
        organization_id = request_token(request).organization_id
        paginator = Pagination()
        page: list[Origin] | None = paginator.paginate_queryset(
            _counted(Origin.objects.filter(organization_id=organization_id)), request, view=self
        )
        rows = _add_followers(list(page or []), organization_id)
        response = paginator.get_paginated_response(OriginOutputSerializer(rows, many=True).data)
        refusal = ZoneEntitlement.custom_origins_refusal()
        if refusal:
            response["X-Origins-Disabled"] = refusal
        return response

    @extend_schema(
        operation_id="origins_create",
        request=OriginInputSerializer,
        responses={201: OriginOutputSerializer, **REFUSED, **ERRORS},
        examples=[INPUT_EXAMPLE, EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        """Add an origin. Its DNS record is written in the background (`state` pending, then
        ready); the domains that follow the default move to it once it is ready."""
        data = OriginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            origin = origin_create(
                organization=request_token(request).organization,
                name=data.validated_data["name"],
                address=data.validated_data["address"],
                make_default=data.validated_data.get("is_default", False),
            )
        except DomainError as error:
            return refusal_response(error)
        return Response(_one(origin), status=status.HTTP_201_CREATED)


class OriginDetailApi(StrictApiView):
    @extend_schema(
        operation_id="origins_retrieve",
        responses={200: OriginOutputSerializer, **ERRORS, **NOT_FOUND},
        examples=[EXAMPLE],
    )
    def get(self, request: Request, origin_id: uuid.UUID) -> Response:
        """One origin."""
        origin = get_origin_or_404(
            request_token(request).organization_id, origin_id, removing_too=True
        )
        return Response(_one(origin))

    @extend_schema(
        operation_id="origins_partial_update",
        request=OriginInputSerializer(partial=True),
        responses={200: OriginOutputSerializer, **REFUSED, **ERRORS, **NOT_FOUND},
        examples=[
            OpenApiExample("Move the app", value={"address": "203.0.113.10"}, request_only=True),
            EXAMPLE,
        ],
    )
    def patch(self, request: Request, origin_id: uuid.UUID) -> Response:
        """Rename it, change its address (one DNS record change, however many domains it
        serves) or make it the default (`is_default: true`; to stop being the default, make
        another origin the default)."""
        origin = get_origin_or_404(request_token(request).organization_id, origin_id)
        data = OriginInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values.get("is_default") is False and origin.is_default:
            return refusal_response(
                DomainError(
                    "default_required",
                    "To stop this origin being the default, make another origin the default.",
                    field="is_default",
                )
            )
        try:
            origin = origin_update(
                origin=origin, name=values.get("name"), address=values.get("address")
            )
            if values.get("is_default"):
                origin = origin_make_default(origin=origin)
        except DomainError as error:
            return refusal_response(error)
        return Response(_one(origin))

    @extend_schema(
        operation_id="origins_destroy",
        responses={
            202: OpenApiResponse(
                OriginOutputSerializer,
                description="Being removed: its domains move away, then its record goes.",
            ),
            409: OpenApiResponse(
                ErrorSerializer,
                description="Still in use: `in_use` (domains chose it) or `default_in_use` "
                "(make another origin the default first).",
            ),
            **ERRORS,
            **NOT_FOUND,
        },
    )
    def delete(self, request: Request, origin_id: uuid.UUID) -> Response:
        """Remove the origin: refused while domains use it."""
        origin = get_origin_or_404(request_token(request).organization_id, origin_id)
        try:
            origin = origin_delete(origin=origin)
        except DomainError as error:
            return refusal_response(error)
        return Response(_one(origin), status=status.HTTP_202_ACCEPTED)
