"""Outgoing webhooks (domains/webhooks/): Standard Webhooks deliveries to tenants' endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from accounts.models import Organization


class WebhookEventType(models.TextChoices):
    DOMAIN_CREATED = "domain.created", "A domain was added"
    DOMAIN_ACTIVE = "domain.active", "A domain is active: HTTPS works"
    DOMAIN_NEEDS_ATTENTION = "domain.needs_attention", "A domain needs attention"
    DOMAIN_PENDING = "domain.pending", "An active domain is pending again"
    DOMAIN_DELETED = "domain.deleted", "A domain was removed"
    DOMAIN_CERTIFICATE_EXPIRING = "domain.certificate_expiring", "A certificate expires soon"
    DOMAIN_ORIGIN_CHANGED = "domain.origin_changed", "A domain is served by another origin now"
    DOMAIN_DNS_CHANGED = "domain.dns_changed", "What a domain's DNS records answer changed"
    MEMBER_JOINED = "member.joined", "Someone joined the organization"
    MEMBER_REMOVED = "member.removed", "Someone left or was removed from the organization"
    TEST = "webhook.test", "A test event, sent by hand"


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """Where an organization wants to hear about its domains, and the secret that signs it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    # Event types to send; empty means every type.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=80, default=new_webhook_secret)
    # After a rotation the old secret signs too, until this moment.
    previous_secret = models.CharField(max_length=80, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last success: an endpoint failing every delivery for
    # WEBHOOK_DISABLE_AFTER_DAYS is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "enabled"], name="webhookendpoint_org")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return (
            event_type == WebhookEventType.TEST
            or not self.event_types
            or (event_type in self.event_types)
        )

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one during
        its overlap after a rotation."""
        secrets_ = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            secrets_.append(self.previous_secret)
        return secrets_


class WebhookMessage(models.Model):
    """One event for an organization's endpoints: the outbox row, written in the transaction of
    the change it describes. `id` is the Standard Webhooks `webhook-id`: receivers dedupe by it.
    """

    id = models.CharField(max_length=40, primary_key=True, default=new_message_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_messages"
    )
    type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # {"type", "timestamp", "data": {...}}: exactly the body sent, as JSON.
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One message to one endpoint: its attempts so far and the last one's outcome."""

    # No index of their own: the unique (message, endpoint) constraint and the endpoint's log
    # index start with them. Every attempt rewrites its row (claim, record), and each index
    # more is written again each time.
    message = models.ForeignKey(
        WebhookMessage, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(
        max_length=10, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; None once succeeded or failed for good. A worker claims a
    # delivery by moving this forward to a short lease (renewed while its batch goes on) and
    # stamping `lease_token`, with a conditional UPDATE; recording the attempt clears the token.
    # A worker that dies leaves the lease to run out: the delivery is due again a minute later.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, default="")  # an excerpt of the body
    last_error = models.TextField(blank=True, default="")
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="webhookdelivery_once_per_endpoint"
            )
        ]
        indexes = [
            # The claim: an endpoint's pending deliveries due now, in the order they are sent,
            # read in index order and cut at the batch (no sort of the backlog), and whether an
            # endpoint has any due at all. Only pending rows: delivered history costs nothing.
            models.Index(
                fields=["endpoint", "next_attempt_at", "created_at", "id"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_pending_due",
            ),
            # A failing endpoint's oldest pending delivery (the one its retries probe with).
            models.Index(
                fields=["endpoint", "created_at", "id"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_pending_age",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.endpoint_id} ({self.status})"
