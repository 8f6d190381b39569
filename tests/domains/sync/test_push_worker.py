"""A certificate transition reaches the API's answer through push alone (no sync cycle), and
through the sync loop alone when every notification is lost: on a real Celery worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization
from domains.models import CloudflareHint, Domain, DomainStatus, HintOutcome, SyncRun
from sandbox.cloudflare import CloudflareSandbox
from sandbox.cloudflare.alerts import PushFaults
from tests.domains.sync.helpers import DOMAIN, register
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def subscribed(
    cloudflare_sim: CloudflareSandbox, live_server: Any, settings: Any
) -> CloudflareSandbox:
    """Cloudflare sends its notifications to the app's receiver (what setup arranges)."""
    settings.CLOUDFLARE_WEBHOOK_SECRET = "push-secret"
    alerts = cloudflare_sim.alerts
    alerts.handle(
        "POST",
        "destinations/webhooks",
        {
            "name": "DCVaaS",
            "url": f"{live_server.url}/webhooks/cloudflare",
            "secret": "push-secret",
        },
    )
    destination = alerts.handle("GET", "destinations/webhooks", None)[1][0]["id"]
    alerts.handle(
        "POST",
        "policies",
        {
            "name": "DCVaaS custom hostnames",
            "alert_type": "custom_ssl_certificate_event_type",
            "mechanisms": {"webhooks": [{"id": destination}]},
        },
    )
    return cloudflare_sim


def api_status(client: Client, token: str, domain: Domain) -> str:
    answer = client.get(f"/api/v1/domains/{domain.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")
    return str(answer.json()["status"])


def test_push_alone_turns_a_domain_active(
    acme: Organization,
    acme_token: str,
    client: Client,
    subscribed: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    celery_worker: Any,
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}", due=False)
    worker = celery_worker()

    subscribed.set_cname(domain.hostname, True)  # Cloudflare notices, and tells us
    worker.wait_for(
        lambda: CloudflareHint.objects.filter(hostname_id=domain.cloudflare_id).count() >= 3
    )
    worker.send("domains.process_hints")

    worker.wait_for(lambda: api_status(client, acme_token, domain) == DomainStatus.ACTIVE)
    assert not SyncRun.objects.exists()  # the poller never ran
    assert CloudflareHint.objects.filter(outcome=HintOutcome.APPLIED).count() >= 1


def test_with_every_notification_lost_the_sync_loop_still_gets_there(
    acme: Organization,
    acme_token: str,
    client: Client,
    subscribed: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    celery_worker: Any,
) -> None:
    subscribed.push_faults(PushFaults(drop=1.0))
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}", due=True)
    worker = celery_worker()
    subscribed.set_cname(domain.hostname, True)

    worker.send("domains.schedule_sync")

    worker.wait_for(lambda: api_status(client, acme_token, domain) == DomainStatus.ACTIVE)
    assert not CloudflareHint.objects.exists()


def test_with_notifications_dropped_at_random_every_domain_still_converges(
    acme: Organization, subscribed: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    from domains import sync
    from domains.push.services import hints_process

    subscribed.seed(7)
    subscribed.push_faults(PushFaults(drop=0.5, duplicate=0.3, reorder=True))
    domains = [register(cloudflare_http, acme, f"shop{n}.{DOMAIN}", due=True) for n in range(12)]

    for domain in domains:
        subscribed.set_cname(domain.hostname, True)
    subscribed.hostnames()  # Cloudflare notices now (rather than at its next tick)
    assert subscribed.alerts.wait_idle()
    pushed = hints_process()
    sync.run_cycle(trigger="test")  # the backstop: what push missed, the poller finds

    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 12
    assert 0 < pushed.applied < 12 or pushed.handed_over  # some arrived, some were lost
