"""The loop on a real Celery worker (a subprocess) and a real broker (Redis under CI)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import Organization
from domains import sync
from domains.models import Domain, DomainStatus, SyncRun, WebhookDelivery, WebhookDeliveryStatus
from domains.services import domain_register
from domains.webhooks.services import webhook_endpoint_create
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.inbox import WebhookInbox
from tests.domains.sync.helpers import DOMAIN, make_due, register, register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_pending_domain_goes_active_on_its_own_once_its_cname_exists(
    acme: Organization,
    dns_sandbox: DnsSandbox,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    celery_worker: object,
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}", due=False)
    assert domain.status == DomainStatus.PENDING
    dns_sandbox.cname(domain.hostname, settings.DCV_CNAME_TARGET)
    Domain.objects.filter(pk=domain.pk).update(next_sync_at=timezone.now())
    worker = celery_worker()  # type: ignore[operator]

    worker.send("domains.schedule_sync")

    worker.wait_for(
        lambda: Domain.objects.filter(pk=domain.pk, status=DomainStatus.ACTIVE).exists()
    )
    worker.wait_for(lambda: SyncRun.objects.filter(finished_at__isnull=False).exists())
    run = SyncRun.objects.get()
    assert (run.claimed, run.changed, run.strategy) == (1, 1, "get")
    assert "domains.sync_batch" in worker.output()


def test_a_worker_killed_mid_batch_loses_no_domain(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    celery_worker: object,
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    cloudflare_sim.set_cname(domain.hostname, True)
    # Cloudflare answers the batch's GET slowly: the worker is mid-batch while it waits.
    cloudflare_sim.inject_fault("slow", method="GET", delay=8.0)
    worker = celery_worker()  # type: ignore[operator]
    worker.send("domains.schedule_sync")
    path = f"/custom_hostnames/{domain.cloudflare_id}"
    worker.wait_for(
        lambda: any(r.method == "GET" and r.path.endswith(path) for r in cloudflare_sim.requests)
    )

    worker.kill()
    cloudflare_sim.clear_faults()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.PENDING  # the batch never finished
    lease = domain.next_sync_at
    assert lease == SyncRun.objects.get().lease_until
    # Before the lease expires nobody takes it; after, the next cycle does.
    assert sync.run_cycle().claimed == 0
    with time_machine.travel(lease + timedelta(seconds=1), tick=True):
        run = sync.run_cycle()
    domain.refresh_from_db()
    assert run.claimed == 1
    assert domain.status == DomainStatus.ACTIVE


def test_a_new_domain_reaches_the_tenants_endpoint_through_a_real_worker(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    inbox: WebhookInbox,
    inbox_url: str,
    celery_worker: object,
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    worker = celery_worker()  # type: ignore[operator]

    # The commit that records the domain kicks the delivery task: no beat, no poll.
    domain_register(organization=acme, hostname=f"hooked.{DOMAIN}")

    worker.wait_for(lambda: len(inbox.received()) >= 1)
    received = inbox.received()[0]
    event = Webhook(endpoint.secret).verify(received.body, received.headers)
    assert event["type"] == "domain.created"
    assert event["data"]["domain"]["hostname"] == f"hooked.{DOMAIN}"
    worker.wait_for(
        lambda: WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.SUCCEEDED).exists()
    )


def test_on_workers_a_cycle_whose_due_domains_all_changed_lists_the_zone_once_more_at_most(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    celery_worker: object,
) -> None:
    domains = register_many(cloudflare_http, acme, 150)
    for domain in domains[:100]:
        cloudflare_sim.set_cname(domain.hostname, True)
    sync.run_cycle()
    Domain.objects.update(next_sync_at=None)
    pending = domains[100:]
    make_due(*pending)
    for domain in pending:  # all 50 turned active at Cloudflare since the last look
        cloudflare_sim.set_cname(domain.hostname, True)
    since = len(cloudflare_sim.requests)
    worker = celery_worker()  # type: ignore[operator]

    worker.send("domains.schedule_sync")

    worker.wait_for(lambda: SyncRun.objects.filter(finished_at__isnull=False).count() == 2)
    run = SyncRun.objects.order_by("-pk").first()
    assert run is not None
    assert run.listed == ["pending_validation", ""]  # the sweep listed the zone by tasks
    assert len(cloudflare_sim.requests) - since == run.cloudflare_calls <= 3 + 2
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 150
    assert not Domain.objects.filter(next_sync_at=run.lease_until).exists()
