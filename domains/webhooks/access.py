"""Access helpers: another organization's endpoints and deliveries are a 404."""

from __future__ import annotations

import uuid

from django.http import Http404

from domains.models import WebhookDelivery, WebhookEndpoint


def get_endpoint_or_404(organization_id: int, endpoint_id: uuid.UUID | str) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(organization_id=organization_id, pk=endpoint_id)
    except (WebhookEndpoint.DoesNotExist, ValueError):
        raise Http404("No such webhook endpoint") from None


def get_delivery_or_404(
    organization_id: int, endpoint_id: uuid.UUID | str, delivery_id: int
) -> WebhookDelivery:
    try:
        return WebhookDelivery.objects.select_related("message").get(
            endpoint__organization_id=organization_id, endpoint__pk=endpoint_id, pk=delivery_id
        )
    except WebhookDelivery.DoesNotExist:
        raise Http404("No such delivery") from None
