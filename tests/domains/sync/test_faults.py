"""Cloudflare misbehaving (429, 5xx, slow, dropped) and a small rate budget: nothing wrongly
fails, nothing exceeds the budget, and everything converges once the faults stop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Organization
from domains import sync
from domains.models import Domain, DomainEvent, DomainStatus, SyncRun
from domains.rate_budget import budget
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import (
    DOMAIN,
    make_all_due,
    register,
    register_many,
    statuses,
    truth,
)
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db


def _domains(acme: Organization, sim: CloudflareSandbox, http: CloudflareHttp) -> None:
    """A zone of every kind: going active, staying pending, blocked, and unregistered ones."""
    for domain in register_many(http, acme, 12, prefix="ok")[:8]:
        sim.set_cname(domain.hostname, True)
    register(http, acme, f"blocked.{DOMAIN}", status=DomainStatus.PENDING)
    Domain.objects.bulk_create(
        Domain(
            organization=acme,
            hostname=f"late{n}.{DOMAIN}",
            status=DomainStatus.REGISTERING,
            next_sync_at=timezone.now(),
        )
        for n in range(3)
    )


def _wrongly_failed(sim: CloudflareSandbox) -> list[str]:
    expected = truth(sim)
    return [
        hostname
        for hostname, status in statuses().items()
        if status == DomainStatus.FAILED and expected.get(hostname) != DomainStatus.FAILED
    ]


@pytest.mark.parametrize("kind", ["429", "500", "503", "slow", "drop"])
def test_every_domain_converges_to_cloudflares_state_once_faults_stop(
    kind: str,
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    # Every fault reaches the loop itself (no retries inside the client, no waiting).
    settings.CLOUDFLARE_MAX_RETRIES = 0
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    settings.CLOUDFLARE_READ_TIMEOUT = 0.3
    _domains(acme, cloudflare_sim, cloudflare_http)
    cloudflare_sim.seed(7)
    cloudflare_sim.inject_fault(kind, rate=0.3, retry_after=1, delay=0.6)
    start = timezone.now()

    for step in range(6):
        with time_machine.travel(start + timedelta(seconds=5 * step), tick=True):
            make_all_due()
            sync.run_cycle()
        assert _wrongly_failed(cloudflare_sim) == []
    faulty_runs = list(SyncRun.objects.all())
    cloudflare_sim.clear_faults()
    for step in range(6, 10):
        with time_machine.travel(start + timedelta(seconds=5 * step), tick=True):
            make_all_due()
            sync.run_cycle()

    assert statuses() == truth(cloudflare_sim)
    assert len(cloudflare_sim.hostnames()) == 16
    assert (
        sum(run.errors for run in faulty_runs) + sum(run.budget_exhausted for run in faulty_runs)
        > 0
    ), "the faults never reached the loop"
    wrong = DomainEvent.objects.filter(to_status=DomainStatus.FAILED).exclude(
        hostname=f"blocked.{DOMAIN}"
    )
    assert not wrong.exists()


def test_a_spent_budget_stops_the_cycle_and_leaves_the_rest_for_later(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 20
    settings.CLOUDFLARE_RATE_RESERVED = 5  # the sync loop may spend 15 a window
    settings.CLOUDFLARE_RATE_WINDOW = 300
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    Domain.objects.bulk_create(
        Domain(
            organization=acme,
            hostname=f"late{n}.{DOMAIN}",
            status=DomainStatus.REGISTERING,
            next_sync_at=timezone.now() - timedelta(seconds=1),
        )
        for n in range(30)
    )

    run = sync.run_cycle()

    assert run.budget_exhausted
    assert len(cloudflare_sim.requests) == run.cloudflare_calls <= 15
    assert budget.usage().used <= 15
    assert not Domain.objects.filter(status=DomainStatus.FAILED).exists()
    assert Domain.objects.filter(status=DomainStatus.PENDING).count() >= 14
    # The slice kept for people is still there.
    budget.acquire("user", wait=False)
    # The rest is released to the next window, not abandoned on a lease.
    waiting = Domain.objects.filter(status=DomainStatus.REGISTERING)
    assert waiting.exists()
    assert max(
        waiting.values_list("next_sync_at", flat=True)
    ) <= budget.usage().window_reset_at + timedelta(seconds=61)

    # Each later window registers up to 15 more (after the listing's one call).
    windows = 0
    moment = budget.usage().window_reset_at + timedelta(seconds=62)
    while Domain.objects.filter(status=DomainStatus.REGISTERING).exists() and windows < 3:
        windows += 1
        with time_machine.travel(moment):
            later = sync.run_cycle()
            assert later.cloudflare_calls <= 15
            assert budget.usage().used <= 15
            moment = budget.usage().window_reset_at + timedelta(seconds=62)
    assert not Domain.objects.filter(status=DomainStatus.REGISTERING).exists()
    assert len(cloudflare_sim.hostnames()) == 30
    assert not Domain.objects.filter(status=DomainStatus.FAILED).exists()


def test_a_cycle_in_a_window_whose_bulk_allowance_is_spent_claims_nothing(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 20
    settings.CLOUDFLARE_RATE_RESERVED = 5  # the sync loop may spend 15 a window
    for _ in range(15):
        budget.acquire("bulk", wait=False)
    due = timezone.now() - timedelta(seconds=1)
    Domain.objects.create(
        organization=acme,
        hostname=f"late.{DOMAIN}",
        status=DomainStatus.REGISTERING,
        next_sync_at=due,
    )

    run = sync.run_cycle()

    assert (run.budget_exhausted, run.claimed, run.cloudflare_calls) == (True, 0, 0)
    assert Domain.objects.get().next_sync_at == due  # still due, not claimed and released
    assert not cloudflare_sim.requests


def test_a_zone_bigger_than_one_windows_budget_is_listed_to_its_end_over_later_windows(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 6
    settings.CLOUDFLARE_RATE_RESERVED = 1  # the sync loop may spend 5 calls a window: 5 pages
    settings.CLOUDFLARE_RATE_LISTING_SHARE = 1.0  # all of them on its listing
    settings.CLOUDFLARE_RATE_WINDOW = 300
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    register_many(cloudflare_http, acme, 400)  # 8 pages, every domain due

    first = sync.run_cycle()
    assert first.budget_exhausted
    assert Domain.objects.filter(last_synced_at=None).count() == 150  # pages 6-8 not reached
    seen = len(cloudflare_sim.requests)

    # Each later window resumes where the last listing stopped (it used to start at page 1
    # again, spend the window on pages already seen, and never reach the tail).
    moment = budget.usage().window_reset_at + timedelta(seconds=62)
    with time_machine.travel(moment):
        later = sync.run_cycle()
    assert later.cloudflare_calls <= 5
    assert Domain.objects.filter(last_synced_at=None).count() == 0
    pages = [int(r.query["page"][0]) for r in cloudflare_sim.requests[seen:]]
    # Then around to page 1 for the domains that came due again meanwhile, budget permitting.
    assert pages[:3] == [6, 7, 8]


def test_a_domain_cloudflare_keeps_failing_on_is_retried_later_and_later_never_failed(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 0
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}", status=DomainStatus.ACTIVE)
    cloudflare_sim.inject_fault("503")
    waits = []

    for _ in range(3):
        run = sync.run_cycle()
        domain.refresh_from_db()
        waits.append(round((domain.next_sync_at - run.started_at).total_seconds()))
        Domain.objects.filter(pk=domain.pk).update(next_sync_at=timezone.now())

    assert waits == [60, 120, 240]
    assert domain.status == DomainStatus.ACTIVE
    assert domain.sync_attempts == 3
    assert SyncRun.objects.filter(errors=1).count() == 3
