"""Models of the domains app, one module per part of it; import them from here.

- `domains`: the domain itself, what we found in its DNS, its history, and the shared Cloudflare
  rate budget's counter when no Redis is configured (one row per budget, spent with a single
  conditional UPDATE, so every web process and worker draws from the same allowance).
- `handoffs`: links and emails for whoever manages a domain's DNS.
- `origins`: where an organization's customers' traffic goes.
- `push`: Cloudflare's notifications, as they arrive.
- `sync`: the sync loop's cycles and the owners' emails it owes.
- `webhooks`: the tenants' endpoints and the outbox of what they are sent.
"""

from domains.models.domains import (
    SETTLED_STATUSES,
    DnsCheck,
    DnsHostDetection,
    Domain,
    DomainEvent,
    DomainEventKind,
    DomainQuerySet,
    DomainStatus,
    RateBudgetCounter,
)
from domains.models.handoffs import (
    EmailUnsubscribe,
    Handoff,
    HandoffEmail,
    HandoffEmailKind,
    HandoffQuerySet,
)
from domains.models.origins import (
    Origin,
    OriginQuerySet,
    OriginState,
    ZoneEntitlement,
    new_origin_key,
)
from domains.models.push import (
    CloudflareHint,
    HintOutcome,
)
from domains.models.sync import (
    DomainNotification,
    NotificationKind,
    SyncRun,
    SyncStrategy,
)
from domains.models.webhooks import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
    new_message_id,
    new_webhook_secret,
)

__all__ = [
    "CloudflareHint",
    "DnsCheck",
    "DnsHostDetection",
    "Domain",
    "DomainEvent",
    "DomainEventKind",
    "DomainNotification",
    "DomainQuerySet",
    "DomainStatus",
    "EmailUnsubscribe",
    "Handoff",
    "HandoffEmail",
    "HandoffEmailKind",
    "HandoffQuerySet",
    "HintOutcome",
    "NotificationKind",
    "Origin",
    "OriginQuerySet",
    "OriginState",
    "RateBudgetCounter",
    "SETTLED_STATUSES",
    "SyncRun",
    "SyncStrategy",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "WebhookEventType",
    "WebhookMessage",
    "ZoneEntitlement",
    "new_message_id",
    "new_origin_key",
    "new_webhook_secret",
]
