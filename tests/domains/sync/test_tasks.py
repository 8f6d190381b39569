"""The Celery side: stable task names, the beat entry staff can pause, idempotent batches."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from accounts.models import Organization
from dcvaas.celery import app
from domains import sync, tasks
from domains.models import Domain, DomainStatus, SyncRun
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db


def test_the_tasks_have_stable_names_late_acks_and_time_limits() -> None:
    assert {"domains.schedule_sync", "domains.sync_batch", "domains.sync_zone"} <= set(app.tasks)
    assert tasks.sync_batch.name == "domains.sync_batch"
    assert all(t.acks_late for t in (tasks.schedule_sync, tasks.sync_batch, tasks.sync_zone))
    assert settings.CELERY_TASK_TIME_LIMIT < settings.SYNC_LEASE_SECONDS
    assert tasks.sync_zone.time_limit < settings.SYNC_LEASE_SECONDS


# The scheduler closes stale connections as beat does: no test transaction to wrap it in.
@pytest.mark.django_db(transaction=True)
def test_the_schedule_lands_in_django_celery_beats_table_where_staff_can_pause_it() -> None:
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"

    DatabaseScheduler(app=app)

    entry = PeriodicTask.objects.get(name="every-1m-schedule-domain-sync")
    assert entry.task == "domains.schedule_sync"
    assert entry.enabled
    assert entry.interval is not None
    assert entry.interval.every == 30


def test_a_batch_delivered_twice_syncs_its_domains_once(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 3)
    for domain in domains:
        cloudflare_sim.set_cname(domain.hostname, True)
    plan = sync.plan_cycle(trigger="test")
    assert plan.strategy == "list"
    lease = plan.run.lease_until.isoformat()
    ids = [str(d.pk) for d in domains]

    assert tasks.sync_zone.apply(kwargs={"run_id": plan.run.pk, "lease": lease}).get() == 3
    requests_after_first = len(cloudflare_sim.requests)
    assert tasks.sync_zone.apply(kwargs={"run_id": plan.run.pk, "lease": lease}).get() == 0
    assert tasks.sync_batch.apply(args=[ids], kwargs={"lease": lease}).get() == 0

    assert len(cloudflare_sim.requests) == requests_after_first + 1  # the second listing only
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 3
    run = SyncRun.objects.get()
    assert (run.changed, run.finished_at is not None) == (3, True)


def test_the_scheduler_task_fans_batches_out_after_its_claim_commits(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: object,
    django_capture_on_commit_callbacks: object,
) -> None:
    register_many(cloudflare_http, acme, 2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # type: ignore[operator]
        run_id = tasks.schedule_sync.apply().get()

    run = SyncRun.objects.get(pk=run_id)
    assert (run.claimed, run.strategy, run.pending_batches) == (2, "list", 1)
    assert len(callbacks) == 1  # the enqueueing waits for the commit
