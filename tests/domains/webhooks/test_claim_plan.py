"""The delivery claim costs the batch, not the backlog: on PostgreSQL (CI runs it there) its
plan reads the pending deliveries' index in order and stops at the batch, with no sort of every
due row, and finding the endpoints with work probes an index once per endpoint, stopping at
its first due delivery, never reading the whole table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Organization
from domains.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
)
from domains.webhooks import delivery

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="query plans are PostgreSQL's; CI sets DATABASE_URL and runs this",
    ),
]


@pytest.fixture
def backlog(acme: Organization) -> WebhookEndpoint:
    """Ten endpoints; the first has 20,000 due deliveries and 20,000 delivered ones."""
    endpoints = [
        WebhookEndpoint.objects.create(organization=acme, url=f"https://hooks{n}.example/in")
        for n in range(10)
    ]
    now = timezone.now()
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            organization=acme,
            type=WebhookEventType.TEST,
            payload={},
            created_at=now - timedelta(seconds=n),
        )
        for n in range(40_000)
    )
    WebhookDelivery.objects.bulk_create(
        (
            WebhookDelivery(
                message=message,
                endpoint=endpoints[0],
                status=WebhookDeliveryStatus.PENDING if n % 2 else WebhookDeliveryStatus.SUCCEEDED,
                next_attempt_at=message.created_at if n % 2 else None,
                created_at=message.created_at,
            )
            for n, message in enumerate(messages)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {WebhookDelivery._meta.db_table}")
    return endpoints[0]


def test_the_claim_reads_the_index_in_order_and_stops_at_the_batch(
    backlog: WebhookEndpoint,
) -> None:
    claim = delivery.due_deliveries(backlog, timezone.now()).values_list("pk", flat=True)

    plan = claim[: delivery.BATCH].explain()

    assert "webhookdelivery_pending_due" in plan
    assert plan.lstrip().startswith("Limit")
    assert "Sort" not in plan


def test_finding_the_endpoints_with_work_probes_the_index_once_per_endpoint(
    backlog: WebhookEndpoint,
) -> None:
    plan = delivery.endpoints_with_due_deliveries(timezone.now()).explain()

    assert "Semi Join" in plan  # stops at an endpoint's first due delivery
    # The probe's index condition holds the endpoint (and, with the partial index only, the
    # due time as well).
    assert re.search(r"Index Cond: \(+endpoint_id = domains_webhookendpoint\.id", plan)
    assert "Seq Scan on domains_webhookdelivery" not in plan
    assert delivery.due_endpoints() == [str(backlog.pk)]
