"""The token API for webhook endpoints (`/api/v1/webhook-endpoints`): the same services as the
Webhooks page. Another organization's endpoints and deliveries answer 404."""

from __future__ import annotations

import uuid
from typing import Any

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
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    UtcDateTimeField,
    page_of,
    refusal_response,
    request_token,
)
from domains.errors import DomainError
from domains.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
)
from domains.webhooks.access import get_delivery_or_404, get_endpoint_or_404
from domains.webhooks.services import (
    SUBSCRIBABLE,
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_send_test,
    webhook_endpoint_update,
)

NOT_FOUND = {
    404: OpenApiResponse(ErrorSerializer, description="No such endpoint here."),
    **BAD_PARAMETER,
}
REFUSED = {
    400: OpenApiResponse(
        ErrorSerializer, description="Invalid or refused URL, unknown type or parameter."
    ),
    402: OpenApiResponse(ErrorSerializer, description="The plan's endpoint limit is reached."),
}


class EndpointOutputSerializer(OutputSerializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE), help_text="Empty: every type."
    )
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why DCVaaS disabled it, if it did.")
    failing_since = UtcDateTimeField(allow_null=True)
    created_at = UtcDateTimeField()


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_...), shown in this answer only: keep it."
    )


class EndpointInputSerializer(StrictInputSerializer):
    url = StrictCharField(max_length=2000)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=StrictCharField(), required=False, help_text="Empty or absent: every type."
    )
    enabled = StrictBooleanField(required=False)


class DeliveryOutputSerializer(OutputSerializer):
    id = serializers.IntegerField()
    message_id = serializers.CharField(help_text="The webhook-id header.")
    event_type = serializers.CharField(source="message.type")
    payload = serializers.JSONField(source="message.payload")
    status = serializers.ChoiceField(choices=WebhookDeliveryStatus.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = UtcDateTimeField(allow_null=True)
    last_attempt_at = UtcDateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_response = serializers.CharField(help_text="The start of the endpoint's answer.")
    last_error = serializers.CharField()
    last_duration_ms = serializers.IntegerField(allow_null=True)
    created_at = UtcDateTimeField()


class DeliveryPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeliveryOutputSerializer(many=True)


EndpointPageSerializer = page_of("EndpointPage", EndpointOutputSerializer)


class EndpointListCreateApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS}

    @extend_schema(
        operation_id="webhook_endpoints_list",
        parameters=[PageParameters],
        responses={200: EndpointPageSerializer, **BAD_PARAMETER, **ERRORS, **NO_SUCH_PAGE},
    )
    def get(self, request: Request) -> Response:
        """The organization's webhook endpoints, oldest first, 50 a page."""
        PageParameters(data=request.query_params).is_valid(raise_exception=True)
        endpoints = WebhookEndpoint.objects.filter(
            organization_id=request_token(request).organization_id
        ).order_by("created_at", "id")
        paginator = Pagination()
        page = paginator.paginate_queryset(endpoints, request, view=self)
        return paginator.get_paginated_response(EndpointOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=EndpointInputSerializer,
        responses={201: EndpointWithSecretSerializer, **REFUSED, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Add an endpoint. The answer carries its signing secret, once."""
        data = EndpointInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = webhook_endpoint_create(
                organization=request_token(request).organization,
                url=data.validated_data["url"],
                description=data.validated_data.get("description", ""),
                event_types=data.validated_data.get("event_types", []),
            )
        except DomainError as error:
            return refusal_response(error)
        return Response(
            EndpointWithSecretSerializer(created.endpoint).data, status=status.HTTP_201_CREATED
        )


class EndpointDetailApi(StrictApiView):
    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        responses={200: EndpointOutputSerializer, **ERRORS, **NOT_FOUND},
    )
    def get(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """One endpoint (never its secret)."""
        endpoint = get_endpoint_or_404(request_token(request).organization_id, endpoint_id)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_partial_update",
        request=EndpointInputSerializer(partial=True),
        responses={200: EndpointOutputSerializer, **REFUSED, **ERRORS, **NOT_FOUND},
    )
    def patch(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Change the URL, description, event types, or enable/disable it."""
        endpoint = get_endpoint_or_404(request_token(request).organization_id, endpoint_id)
        data = EndpointInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            endpoint = webhook_endpoint_update(endpoint=endpoint, **data.validated_data)
        except DomainError as error:
            return refusal_response(error)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        responses={204: OpenApiResponse(description="Removed."), **ERRORS, **NOT_FOUND},
    )
    def delete(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Remove the endpoint and its delivery log."""
        endpoint = get_endpoint_or_404(request_token(request).organization_id, endpoint_id)
        webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(StrictApiView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=None,
        responses={200: EndpointWithSecretSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """A new signing secret, shown once; the old one signs beside it for a while
        (WEBHOOK_SECRET_OVERLAP_HOURS) so receivers can switch without missing a delivery."""
        endpoint = get_endpoint_or_404(request_token(request).organization_id, endpoint_id)
        rotated = webhook_endpoint_rotate_secret(endpoint=endpoint)
        return Response(EndpointWithSecretSerializer(rotated.endpoint).data)


class EndpointTestApi(StrictApiView):
    @extend_schema(
        operation_id="webhook_endpoints_test",
        request=None,
        responses={202: DeliveryOutputSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Send a `webhook.test` event to this endpoint now."""
        endpoint = get_endpoint_or_404(request_token(request).organization_id, endpoint_id)
        sent = webhook_endpoint_send_test(endpoint=endpoint)
        return Response(DeliveryOutputSerializer(sent).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(StrictApiView):
    query_parameters = {"GET": frozenset({"status", "event_type", "page", "page_size"})}

    class FilterSerializer(PageParameters):
        status = serializers.ChoiceField(choices=WebhookDeliveryStatus.choices, required=False)
        event_type = serializers.ChoiceField(choices=WebhookEventType.choices, required=False)

    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[FilterSerializer],
        responses={
            200: DeliveryPageSerializer,
            **ERRORS,
            **NOT_FOUND,
            400: OpenApiResponse(ErrorSerializer, description="Invalid filter."),
        },
    )
    def get(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """The endpoint's delivery log, newest first; filter by `status` and `event_type`."""
        endpoint = get_endpoint_or_404(request_token(request).organization_id, endpoint_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("message")
        if "status" in filters.validated_data:
            deliveries = deliveries.filter(status=filters.validated_data["status"])
        if "event_type" in filters.validated_data:
            deliveries = deliveries.filter(message__type=filters.validated_data["event_type"])
        paginator = Pagination()
        page = paginator.paginate_queryset(
            deliveries.order_by("-created_at", "-id"), request, view=self
        )
        return paginator.get_paginated_response(DeliveryOutputSerializer(page, many=True).data)


class DeliveryResendApi(StrictApiView):
    @extend_schema(
        operation_id="webhook_deliveries_resend",
        request=None,
        responses={202: DeliveryOutputSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request: Request, endpoint_id: uuid.UUID, delivery_id: int) -> Response:
        """Send this delivery again, with a fresh schedule of attempts."""
        organization_id = request_token(request).organization_id
        delivery = get_delivery_or_404(organization_id, endpoint_id, delivery_id)
        resent = webhook_delivery_resend(delivery=delivery)
        return Response(DeliveryOutputSerializer(resent).data, status=status.HTTP_202_ACCEPTED)
