"""Record, then let others react: a domain's history and the webhook messages it owes.

A change is recorded once, in the transaction that makes it, as `DomainEvent` rows plus the
webhook messages and deliveries they owe (the outbox). Delivery (`domains.webhooks`) and the
owners' emails (`domains.notifications`) read those rows later, so a crash between the change
and its announcement loses nothing. The core, origins, push and the sync loop all record
through here, with the event builders below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from domains.cloudflare import CustomHostname
from domains.kick import kick
from domains.models import (
    Domain,
    DomainEvent,
    DomainEventKind,
    DomainStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
)
from domains.serializers import DomainOutputSerializer


def domain_event(
    domain: Domain,
    kind: DomainEventKind,
    *,
    message: str = "",
    from_status: str = "",
    to_status: str = "",
    data: dict[str, Any] | None = None,
) -> DomainEvent:
    return DomainEvent(
        domain=domain,
        organization_id=domain.organization_id,
        hostname=domain.hostname,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        message=message,
        data=data or {},
    )


def status_change_event(
    domain: Domain,
    *,
    before: tuple[str, str, str],
    to_status: str,
    remote: CustomHostname,
    by: str = "",
) -> DomainEvent:
    """The event of a change in Cloudflare's answer: `before` is (our status, hostname status,
    certificate status) as they were; the request, Check now and the sync loop all record it
    with this one builder."""
    data: dict[str, Any] = {
        "hostname_status": [before[1], remote.status],
        "ssl_status": [before[2], remote.ssl_status],
    }
    if by:
        data["by"] = by
    return domain_event(
        domain,
        DomainEventKind.STATUS_CHANGED,
        from_status=before[0],
        to_status=to_status,
        message=f"hostname {remote.status or '—'}, certificate {remote.ssl_status or '—'}",
        data=data,
    )


def record_events(events: Sequence[DomainEvent]) -> list[DomainEvent]:
    """Save these history events and the webhook messages they owe, in the caller's
    transaction (one is opened if there is none): both are written, or neither is."""
    with transaction.atomic():
        saved = DomainEvent.objects.bulk_create(events)
        publish(
            (event_type, event.domain, event.created_at, webhook_extra(event))
            for event in saved
            if event.domain is not None and (event_type := webhook_type(event)) is not None
        )
    return saved


def webhook_type(event: DomainEvent) -> WebhookEventType | None:
    """The webhook a history event is, if any: additions, removals, a new origin at Cloudflare
    and changes of our status that a tenant's app acts on."""
    if event.kind == DomainEventKind.CREATED:
        return WebhookEventType.DOMAIN_CREATED
    if event.kind == DomainEventKind.DELETED:
        return WebhookEventType.DOMAIN_DELETED
    if event.kind == DomainEventKind.ORIGIN_CHANGED:
        return WebhookEventType.DOMAIN_ORIGIN_CHANGED
    if event.kind == DomainEventKind.DNS_CHANGED:
        return WebhookEventType.DOMAIN_DNS_CHANGED
    if event.kind != DomainEventKind.STATUS_CHANGED or event.from_status == event.to_status:
        return None
    if event.to_status == DomainStatus.ACTIVE:
        return WebhookEventType.DOMAIN_ACTIVE
    if event.to_status == DomainStatus.FAILED:
        return WebhookEventType.DOMAIN_NEEDS_ATTENTION
    if event.to_status == DomainStatus.PENDING and event.from_status == DomainStatus.ACTIVE:
        return WebhookEventType.DOMAIN_PENDING
    return None


def webhook_extra(event: DomainEvent) -> dict[str, Any]:
    """What a webhook carries beside the domain: the records found, for `domain.dns_changed`."""
    if event.kind == DomainEventKind.DNS_CHANGED:
        return {"dns": event.data.get("records", [])}
    return {}


def attention_reason(domain: Domain) -> str:
    """A stable code for why a domain needs attention (its explanation says it in words)."""
    if domain.cloudflare_status in ("blocked", "moved"):
        return domain.cloudflare_status
    if domain.ssl_status.endswith("_timed_out"):
        return domain.ssl_status
    if domain.ssl_status == "expired":
        return "certificate_expired"
    if domain.validation_errors:
        return "certificate_validation_error"
    return "other"


def publish(
    items: Iterable[tuple[str, Domain, datetime, dict[str, Any]]],
) -> list[WebhookMessage]:
    """Record a message for each (type, domain, moment, extra data), with a delivery to each
    of the domain's organization's enabled endpoints that wants the type. Costs one query when
    the organizations have no endpoint."""
    items = list(items)
    if not items:
        return []
    organizations = {domain.organization_id for _, domain, _, _ in items}
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(organization_id__in=organizations, enabled=True):
        endpoints.setdefault(endpoint.organization_id, []).append(endpoint)
    messages: list[WebhookMessage] = []
    deliveries: list[WebhookDelivery] = []
    # Shared by the payloads: what their serializers look up once (an organization's origins)
    # is looked up once for all of them, not per message.
    context: dict[str, Any] = {}
    for event_type, domain, moment, extra in items:
        wanting = [e for e in endpoints.get(domain.organization_id, []) if e.wants(event_type)]
        if not wanting:
            continue
        message = WebhookMessage(
            organization_id=domain.organization_id,
            type=event_type,
            payload=payload(event_type, domain, moment, context=context, extra=extra),
            created_at=moment,
        )
        messages.append(message)
        deliveries += [
            WebhookDelivery(message=message, endpoint=e, next_attempt_at=moment) for e in wanting
        ]
    if not messages:
        return []
    WebhookMessage.objects.bulk_create(messages)
    WebhookDelivery.objects.bulk_create(deliveries)
    # Delivered right after the commit; the beat entry picks up whatever this kick misses.
    kick_delivery()
    return messages


def publish_organization_event(
    organization_id: int, event_type: str, data: dict[str, Any], moment: datetime
) -> WebhookMessage | None:
    """Record a message about the organization itself (not one of its domains), with a
    delivery to each enabled endpoint that wants the type; None when none does."""
    wanting = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id=organization_id, enabled=True
        )
        if endpoint.wants(event_type)
    ]
    if not wanting:
        return None
    message = WebhookMessage.objects.create(
        organization_id=organization_id,
        type=event_type,
        payload={
            "type": str(event_type),
            "timestamp": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        created_at=moment,
    )
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(message=message, endpoint=e, next_attempt_at=moment) for e in wanting]
    )
    kick_delivery()
    return message


def kick_delivery() -> None:
    """Ask a worker to deliver what is due now, once the transaction commits."""
    kick("domains.deliver_webhooks")


def payload(
    event_type: str,
    domain: Domain,
    moment: datetime,
    *,
    context: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body sent: Standard Webhooks' recommended `type`, `timestamp` and `data`, the domain
    as the API shows it. `context`: the serializer context a batch of payloads shares."""
    serialized = DomainOutputSerializer(domain, context={} if context is None else context).data
    data: dict[str, Any] = {"domain": dict(serialized), **(extra or {})}
    if event_type == WebhookEventType.DOMAIN_NEEDS_ATTENTION:
        data["reason"] = attention_reason(domain)
    return {
        "type": str(event_type),
        "timestamp": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }
