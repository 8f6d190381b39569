"""The token API for domains (`/api/v1/`): the same services as the dashboard, in JSON."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import IdempotentRequest, Organization
from dcvaas.api import (
    BAD_PARAMETER,
    ERRORS,
    ErrorSerializer,
    OutputSerializer,
    PageParameters,
    Pagination,
    StrictApiView,
    StrictCharField,
    StrictInputSerializer,
    refusal_response,
    request_token,
)
from domains import dns
from domains.access import get_domain_or_404
from domains.errors import DomainError
from domains.models import DnsCheck, Domain, DomainStatus, Origin, OriginState
from domains.origins.services import domain_set_origin
from domains.records import domain_check_records
from domains.serializers import DomainOutputSerializer
from domains.services import (
    CheckResult,
    domain_check_now,
    domain_delete,
    domain_register,
)


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------
class HostnameField(StrictCharField):
    default_error_messages = {"invalid_type": "Send the hostname as a JSON string."}


class DomainPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DomainOutputSerializer(many=True)


class CheckOutputSerializer(OutputSerializer):
    class DnsSerializer(OutputSerializer):
        verdict = serializers.ChoiceField(
            choices=["points_to_us", "points_elsewhere", "missing", "apex", "unknown"]
        )
        code = serializers.CharField(
            help_text="The verdict, or the mistake behind it: zone_appended_to_name (the DNS "
            "host added the zone to the record's name a second time), zone_appended_to_value "
            "(it added the zone to the value), proxied_at_cloudflare (the record is proxied at "
            "Cloudflare: where it points cannot be seen)."
        )
        chain = serializers.ListField(child=serializers.CharField())
        addresses = serializers.ListField(child=serializers.CharField())
        message = serializers.CharField()

    dns = DnsSerializer()
    cloudflare_error = serializers.CharField(help_text="Empty when Cloudflare answered.")
    domain = DomainOutputSerializer()
    records = serializers.SerializerMethodField(
        help_text="Every record the domain needs, as GET /domains/{id}/dns answers."
    )

    def get_records(self, result: CheckResult) -> list[dict[str, Any]]:
        return result.records.records if result.records is not None else []


class RecordCheckSerializer(OutputSerializer):
    name = serializers.CharField(help_text="The record's full name.")
    type = serializers.ChoiceField(choices=["CNAME", "TXT", "A", "AAAA", "CAA"])
    expected = serializers.CharField(help_text="The value it should have.")
    found = serializers.ListField(
        child=serializers.CharField(),
        help_text="Every value a public resolver answers (what visitors and the certificate "
        "authority see). Where a CNAME is expected and the name has addresses instead, those, "
        "each after its type (`A 192.0.2.1`).",
    )
    authoritative_found = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="What the zone's own nameservers answer (true seconds after a change); null "
        "when they could not be asked. Not asked for CAA.",
    )
    match = serializers.BooleanField(
        allow_null=True, help_text="Whether the record is right; null when it could not be told."
    )
    code = serializers.ChoiceField(choices=list(dns.CODES), help_text="The verdict's code.")
    message = serializers.CharField(help_text="What to do, in words, naming the record.")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # Declared here: `required` is also an attribute of every DRF field.
        fields["required"] = serializers.BooleanField(help_text="False for optional records.")
        return fields


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such domain here.")}


def _chosen_origin(organization_id: int, origin_id: uuid.UUID | None) -> Origin | None:
    """The origin a request names, if any; another organization's is "no such origin"."""
    if origin_id is None:
        return None
    origin = (
        Origin.objects.filter(organization_id=organization_id, pk=origin_id)
        .exclude(state=OriginState.DELETING)
        .first()
    )
    if origin is None:
        raise DomainError(
            "unknown_origin",
            "No such origin in your organization. List yours at /api/v1/origins.",
            field="origin",
        )
    return origin


def _organization(request: Request) -> Organization:
    return request_token(request).organization  # loaded with the token


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------
class DomainListCreateApi(StrictApiView):
    query_parameters = {"GET": frozenset({"status", "page", "page_size"})}

    class InputSerializer(StrictInputSerializer):
        hostname = HostnameField(
            max_length=300,
            # The limit holds for what was sent: spaces are trimmed by the hostname parser,
            # never to make a longer input fit.
            trim_whitespace=False,
            help_text="The customer's hostname, like app.client.com.",
        )
        origin = serializers.UUIDField(
            required=False,
            allow_null=True,
            help_text="One of your origins' id; absent or null: your default origin.",
        )

    class FilterSerializer(PageParameters):
        status = serializers.ChoiceField(choices=DomainStatus.choices, required=False)

    @extend_schema(
        operation_id="domains_list",
        parameters=[FilterSerializer],
        responses={
            200: DomainPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid filter."),
            404: OpenApiResponse(ErrorSerializer, description="No such page."),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        """The organization's domains, newest first, 50 a page; filter with `?status=`."""
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        domains = (
            Domain.objects.shown()
            .filter(organization_id=request_token(request).organization_id)
            .order_by("-created_at", "id")
        )
        if "status" in filters.validated_data:
            domains = domains.filter(status=filters.validated_data["status"])
        paginator = Pagination()
        page = paginator.paginate_queryset(domains, request, view=self)
        return paginator.get_paginated_response(DomainOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="domains_create",
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a request safely: the same key returns the first answer.",
            )
        ],
        responses={
            201: DomainOutputSerializer,
            202: OpenApiResponse(
                DomainOutputSerializer,
                description="Added and still registering: Cloudflare did not confirm in time, "
                "the registration is finished in the background.",
            ),
            400: OpenApiResponse(ErrorSerializer, description="Invalid hostname."),
            402: OpenApiResponse(
                ErrorSerializer, description="The plan's domain limit is reached."
            ),
            409: OpenApiResponse(
                ErrorSerializer,
                description="The hostname is already taken: `already_added` (by this "
                "organization) or `hostname_taken` (by another).",
            ),
            422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused."),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        """Add a domain and register it with Cloudflare; the answer has the records to create."""
        organization = _organization(request)
        key = request.headers.get("Idempotency-Key", "")
        fingerprint = hashlib.sha256(b"POST /api/v1/domains\n" + (request.body or b"")).hexdigest()
        if key:
            if len(key) > 255:
                return Response(
                    {"code": "invalid_idempotency_key", "detail": "Idempotency-Key is too long."},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            previous = IdempotentRequest.objects.filter(organization=organization, key=key).first()
            if previous is not None:
                if previous.fingerprint != fingerprint:
                    return Response(
                        {
                            "code": "idempotency_key_reused",
                            "detail": "This Idempotency-Key was used for a different request.",
                        },
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    )
                return Response(
                    previous.body,
                    status=previous.status_code,
                    headers={"Idempotent-Replayed": "true"},
                )

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            registration = domain_register(
                organization=organization,
                hostname=data.validated_data["hostname"],
                origin=_chosen_origin(organization.pk, data.validated_data.get("origin")),
            )
        except DomainError as error:
            response = refusal_response(error)
        else:
            domain = registration.domain
            # Still registering: Cloudflare did not confirm within the request's few seconds,
            # and the sync loop finishes the registration.
            finished = domain.status != DomainStatus.REGISTERING
            response = Response(
                DomainOutputSerializer(domain).data,
                status=status.HTTP_201_CREATED if finished else status.HTTP_202_ACCEPTED,
            )
        if key and response.status_code < 500 and response.status_code != 429:
            # A concurrent request with the same key may have stored its answer first.
            with contextlib.suppress(IntegrityError), transaction.atomic():
                IdempotentRequest.objects.create(
                    organization=organization,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=response.status_code,
                    body=response.data,
                )
        return response


class DomainDetailApi(StrictApiView):
    @extend_schema(
        operation_id="domains_retrieve",
        responses={200: DomainOutputSerializer, **BAD_PARAMETER, **ERRORS, **NOT_FOUND},
    )
    def get(self, request: Request, domain_id: uuid.UUID) -> Response:
        """One domain: status, records to create, errors explained, certificate."""
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        return Response(DomainOutputSerializer(domain).data)

    class ChangeSerializer(StrictInputSerializer):
        origin = serializers.UUIDField(
            allow_null=True, help_text="One of your origins' id; null: your default origin."
        )

    @extend_schema(
        operation_id="domains_partial_update",
        request=ChangeSerializer,
        responses={
            200: DomainOutputSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Unknown origin."),
            **ERRORS,
            **NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "Serve it from another origin",
                value={"origin": "5f0c6d1e-8a43-4f53-9d7e-2b1c0e6f4a10"},
                request_only=True,
            )
        ],
    )
    def patch(self, request: Request, domain_id: uuid.UUID) -> Response:
        """Choose the origin that serves the domain; its hostname follows within moments
        (`origin_moving` is true until Cloudflare has it)."""
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        data = self.ChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            origin = _chosen_origin(domain.organization_id, data.validated_data["origin"])
            domain = domain_set_origin(domain=domain, origin=origin)
        except DomainError as error:
            return refusal_response(error)
        return Response(DomainOutputSerializer(domain).data)

    @extend_schema(
        operation_id="domains_destroy",
        responses={
            202: OpenApiResponse(
                DomainOutputSerializer, description="Being removed; Cloudflare did not confirm yet."
            ),
            204: OpenApiResponse(description="Removed from Cloudflare and from DCVaaS."),
            **BAD_PARAMETER,
            **ERRORS,
            **NOT_FOUND,
        },
    )
    def delete(self, request: Request, domain_id: uuid.UUID) -> Response:
        """Offboard the domain from Cloudflare. 202 while that is still being retried."""
        remaining = domain_delete(
            domain=get_domain_or_404(request_token(request).organization_id, domain_id)
        )
        if remaining is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(DomainOutputSerializer(remaining).data, status=status.HTTP_202_ACCEPTED)


class DomainCheckApi(StrictApiView):
    @extend_schema(
        operation_id="domains_check",
        request=None,
        responses={200: CheckOutputSerializer, **BAD_PARAMETER, **ERRORS, **NOT_FOUND},
    )
    def post(self, request: Request, domain_id: uuid.UUID) -> Response:
        """Check now: our DNS lookup of the CNAME plus an immediate Cloudflare re-validation."""
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        try:
            result = domain_check_now(domain=domain)
        except DomainError as error:
            return refusal_response(error)
        return Response(CheckOutputSerializer(result).data)


class DomainDnsApi(StrictApiView):
    @extend_schema(
        operation_id="domains_dns",
        responses={200: RecordCheckSerializer(many=True), **BAD_PARAMETER, **ERRORS, **NOT_FOUND},
    )
    def get(self, request: Request, domain_id: uuid.UUID) -> Response:
        """Every record the domain needs, expected vs found: asked at the zone's own
        nameservers and at a public resolver, each with a verdict and a sentence. Checked now,
        unless it was checked in the last DNS_CHECK_FRESH_SECONDS (10)."""
        domain = get_domain_or_404(request_token(request).organization_id, domain_id)
        fresh_since = timezone.now() - timedelta(seconds=int(settings.DNS_CHECK_FRESH_SECONDS))
        check = DnsCheck.objects.filter(
            domain=domain, checked_at__gte=fresh_since, state__gt=""
        ).first()
        if check is None:
            check = domain_check_records(domain)
        records = check.records if check is not None else []
        return Response(RecordCheckSerializer(records, many=True).data)
