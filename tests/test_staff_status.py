from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Organization, User
from billing.models import StripeEvent, StripeEventStatus
from domains.models import Domain
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox

pytestmark = pytest.mark.django_db


def test_staff_see_sync_lag_budget_quota_and_webhook_failures(
    staff_client: Client, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="lag.acme.test-customer.dev").domain
    Domain.objects.filter(pk=domain.pk).update(
        next_sync_at=timezone.now() - dt.timedelta(minutes=7)
    )
    StripeEvent.objects.create(
        event_id="evt_broken",
        type="invoice.paid",
        stripe_created=timezone.now(),
        status=StripeEventStatus.FAILED,
        error="No organization for customer cus_x",
    )

    content = staff_client.get("/staff/status/").content.decode()

    assert "<strong>7\xa0minutes</strong> behind" in content
    assert "1 due now" in content
    assert "1</strong> used of 100 allocated" in content
    assert "of 1200" in content
    assert "evt_broken" in content
    assert "Stripe webhook failures: 1" in content


def test_the_quota_is_cached_so_page_views_do_not_spend_the_budget(
    staff_client: Client, cloudflare_sim: CloudflareSandbox
) -> None:
    staff_client.get("/staff/status/")
    staff_client.get("/staff/status/")

    assert len([r for r in cloudflare_sim.requests if r.path.endswith("/quota")]) == 1


def test_the_page_still_renders_when_cloudflare_is_down(
    staff_client: Client, cloudflare_sim: CloudflareSandbox, settings
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 0
    cloudflare_sim.inject_fault("503")

    response = staff_client.get("/staff/status/")

    assert response.status_code == 200
    assert "Unavailable" in response.content.decode()


def test_the_status_page_is_a_404_for_non_staff(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    assert client.get("/staff/status/").status_code == 404


def test_the_status_page_sends_anonymous_visitors_to_sign_in(client: Client, db: None) -> None:
    assert client.get("/staff/status/")["Location"].startswith("/accounts/login/")


def test_staff_see_the_last_sync_cycle(
    staff_client: Client, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.models import SyncRun, SyncStrategy

    now = timezone.now()
    SyncRun.objects.create(
        started_at=now - dt.timedelta(seconds=30),
        finished_at=now - dt.timedelta(seconds=28),
        strategy=SyncStrategy.LIST,
        zone_size=120,
        due=100,
        claimed=100,
        fetched=100,
        changed=4,
        cloudflare_calls=3,
        listed=["pending_validation"],
        listing_failed=True,
    )

    content = staff_client.get("/staff/status/").content.decode()

    assert "took 2.0 s" in content
    assert "Started 30\xa0seconds ago" in content
    assert "0 minutes" not in content
    assert "(certificates pending validation) in 3" in content
    assert "a listing failed: its domains are retried later" in content
    assert "<strong>100</strong> of 100 due domains claimed" in content
    assert "in 3 Cloudflare calls (zone: 120)" in content
    assert "4 changed" in content
