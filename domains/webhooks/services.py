"""Webhook endpoints: add, change, rotate the secret, remove; test and resend deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Organization
from billing.plans import organization_entitlements
from domains.errors import DomainError
from domains.events import kick_delivery
from domains.models import (
    Domain,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
    new_webhook_secret,
)
from domains.webhooks.guard import WebhookUrlError, resolve_target


@dataclass(frozen=True)
class NewSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once


SUBSCRIBABLE = [t for t in WebhookEventType.values if t != WebhookEventType.TEST]


def _checked_url(url: str) -> str:
    try:
        resolve_target(url)
    except WebhookUrlError as error:
        raise DomainError(error.code, error.message, field="url") from error
    return url.strip()


def _checked_types(event_types: Iterable[str]) -> list[str]:
    chosen = sorted(set(event_types))
    unknown = [t for t in chosen if t not in SUBSCRIBABLE]
    if unknown:
        raise DomainError(
            "unknown_event_type",
            f"Unknown event type {unknown[0]!r}. Known ones: {', '.join(SUBSCRIBABLE)}.",
            field="event_types",
        )
    return chosen


def webhook_endpoint_create(
    *, organization: Organization, url: str, description: str = "", event_types: Iterable[str] = ()
) -> NewSecret:
    """Add an endpoint (its URL checked now, and again before every delivery). Raises
    `DomainError` (codes: the URL guard's, `unknown_event_type`, `plan_limit`)."""
    types = _checked_types(event_types)
    url = _checked_url(url)
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        plan = organization_entitlements(
            org, domain_count=Domain.objects.filter(organization=org).count()
        ).plan
        count = WebhookEndpoint.objects.filter(organization=org).count()
        if count >= plan.webhook_endpoint_limit:
            raise DomainError(
                "plan_limit",
                f"Your {plan.name} plan allows {plan.webhook_endpoint_limit} webhook "
                f"endpoint{'s' if plan.webhook_endpoint_limit != 1 else ''}. Remove one or "
                "upgrade your plan.",
            )
        endpoint = WebhookEndpoint.objects.create(
            organization=org, url=url, description=description.strip(), event_types=types
        )
        audit(org.pk, "webhook.created", target=endpoint, target_label=url)
    return NewSecret(endpoint, endpoint.secret)


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str] | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given. Enabling an endpoint again clears its failure record."""
    before = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
    }
    if url is not None:
        endpoint.url = _checked_url(url)
    if description is not None:
        endpoint.description = description.strip()
    if event_types is not None:
        endpoint.event_types = _checked_types(event_types)
    if enabled is not None:
        if enabled and not endpoint.enabled:
            endpoint.failing_since = None
            endpoint.disabled_reason = ""
        endpoint.enabled = enabled
    changes = {
        field: [old, getattr(endpoint, field)]
        for field, old in before.items()
        if old != getattr(endpoint, field)
    }
    with transaction.atomic():
        endpoint.save()
        if changes:
            audit(
                endpoint.organization_id,
                "webhook.changed",
                target=endpoint,
                target_label=endpoint.url,
                changes=changes,
            )
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove it (its messages' deliveries to it go with it)."""
    with transaction.atomic():
        audit(
            endpoint.organization_id, "webhook.removed", target=endpoint, target_label=endpoint.url
        )
        endpoint.delete()


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> NewSecret:
    """A new signing secret; the old one keeps signing beside it for
    WEBHOOK_SECRET_OVERLAP_HOURS, so receivers can switch without missing a delivery."""
    secret = new_webhook_secret()
    overlap = timedelta(hours=int(settings.WEBHOOK_SECRET_OVERLAP_HOURS))
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            previous_secret=endpoint.secret,
            previous_secret_until=timezone.now() + overlap,
            secret=secret,
        )
        audit(
            endpoint.organization_id,
            "webhook.secret_rotated",
            target=endpoint,
            target_label=endpoint.url,
        )
    endpoint.refresh_from_db()
    return NewSecret(endpoint, secret)


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Record a `webhook.test` message for this endpoint alone, due now."""
    now = timezone.now()
    with transaction.atomic():
        message = WebhookMessage.objects.create(
            organization_id=endpoint.organization_id,
            type=WebhookEventType.TEST,
            payload={
                "type": WebhookEventType.TEST,
                "timestamp": now.isoformat().replace("+00:00", "Z"),
                "data": {"endpoint": str(endpoint.pk), "description": endpoint.description},
            },
            created_at=now,
        )
        delivery = WebhookDelivery.objects.create(
            message=message, endpoint=endpoint, next_attempt_at=now, created_at=now
        )
        transaction.on_commit(kick_delivery)
    return delivery


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (failed, waiting for its next retry, or delivered and wanted
    again), with a fresh schedule of attempts. If a worker is sending it at this moment, it may
    arrive twice: receivers dedupe by `webhook-id`, as for any at-least-once delivery."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDeliveryStatus.PENDING, attempts=0, next_attempt_at=now
    )
    transaction.on_commit(kick_delivery)
    delivery.refresh_from_db()
    return delivery
