"""Delivery on real Celery workers (subprocesses) and a real broker (Redis under CI): retries
keep each message's own schedule however many delivery tasks overlap, and a worker killed in
the middle of a batch leaves its messages to another within a lease, not a quarter of an hour."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from accounts.models import Organization
from domains.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from domains.webhooks.services import webhook_endpoint_create, webhook_endpoint_send_test
from sandbox.inbox import WebhookInbox
from tests.fixtures.celery_worker import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _dispatcher(worker: Worker) -> Callable[[], bool]:
    """A condition for `wait_for` that also plays beat's `deliver_webhooks` entry, once a
    second: whether every delivery has succeeded."""
    last = [0.0]

    def all_delivered() -> bool:
        if time.monotonic() - last[0] >= 1.0:
            worker.send("domains.deliver_webhooks")
            last[0] = time.monotonic()
        pending = WebhookDelivery.objects.exclude(status=WebhookDeliveryStatus.SUCCEEDED)
        return not pending.exists()

    return all_delivered


def _messages(endpoint: WebhookEndpoint, count: int) -> None:
    for _ in range(count):
        webhook_endpoint_send_test(endpoint=endpoint)


def test_with_two_delivery_tasks_at_once_each_retry_keeps_its_own_schedule(
    acme: Organization, inbox: WebhookInbox, inbox_url: str, celery_worker: Callable[..., Worker]
) -> None:
    inbox.mode = "500-first"  # every message's first attempt fails, its retry succeeds
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    _messages(endpoint, 20)
    first, second = celery_worker(), celery_worker()

    first.send("domains.deliver_endpoint", str(endpoint.pk))
    second.send("domains.deliver_endpoint", str(endpoint.pk))
    first.wait_for(lambda: not WebhookDelivery.objects.filter(attempts=0).exists())
    first.wait_for(lambda: not WebhookDelivery.objects.exclude(lease_token="").exists())

    # Each failed delivery is due again on its own schedule (5 s after its attempt), or
    # sooner with the endpoint's probe: never at a lease another task held.
    for row in WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING):
        assert row.last_attempt_at is not None
        assert row.next_attempt_at is not None
        assert row.next_attempt_at <= row.last_attempt_at + timedelta(seconds=5)
    first.wait_for(_dispatcher(first))
    counts = Counter(r.headers["webhook-id"] for r in inbox.received())
    assert len(counts) == 20
    assert set(counts.values()) == {2}  # one 500, one 204: nothing sent a third time


def test_a_worker_killed_mid_batch_leaves_its_messages_to_another_within_a_lease(
    acme: Organization, inbox: WebhookInbox, inbox_url: str, celery_worker: Callable[..., Worker]
) -> None:
    inbox.mode, inbox.delay = "slow", 30.0  # the first answer hangs: the batch is mid-way
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    _messages(endpoint, 8)
    # An attempt's limit of 3 s makes a claim last 18 s (six attempts' limit).
    doomed = celery_worker(WEBHOOK_TIMEOUT_SECONDS="3")
    doomed.send("domains.deliver_endpoint", str(endpoint.pk))
    assert inbox.wait_for_in_flight(1, timeout=60)

    doomed.kill()
    inbox.mode = "ok"
    claimed = WebhookDelivery.objects.exclude(lease_token="").count()
    rescuer = celery_worker(WEBHOOK_TIMEOUT_SECONDS="3")
    rescuer.wait_for(_dispatcher(rescuer))

    assert claimed == 8  # the killed worker held the whole batch
    counts = Counter(r.headers["webhook-id"] for r in inbox.received())
    assert len(counts) == 8
    # Only the message in flight at the kill may have gone twice (same webhook-id).
    assert sum(counts.values()) - len(counts) <= 1
