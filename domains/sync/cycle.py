"""Batches and cycles: planning, fanning out, finishing and recording a cycle."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from domains import notifications
from domains.cloudflare import (
    MAX_PER_PAGE,
)
from domains.models import (
    Domain,
    SyncRun,
    SyncStrategy,
)
from domains.sync.apply import send_outbox, sync_by_get, sync_by_listing
from domains.sync.batch import Batch, SyncClient
from domains.sync.schedule import WORK_STATUSES, claim_due, claim_one

logger = logging.getLogger("domains.sync")  # one logger for the whole loop


# ---------------------------------------------------------------------------------------------
# Batches and cycles
# ---------------------------------------------------------------------------------------------
def _new_batch(
    lease: datetime, progress: Callable[[int], None] | None = None, now: datetime | None = None
) -> Batch:
    return Batch(lease=lease, now=now or timezone.now(), client=SyncClient(), progress=progress)


def _finish(batch: Batch, run_id: int | None) -> None:
    """Send the batch's emails and add its figures to the cycle's run."""
    send_outbox(batch)
    if run_id is None:
        return
    now = timezone.now()
    figures: dict[str, Any] = {
        "fetched": F("fetched") + batch.fetched,
        "changed": F("changed") + batch.changed,
        "errors": F("errors") + batch.errors,
        "cloudflare_calls": F("cloudflare_calls") + batch.client.calls,
        "pending_batches": Case(
            When(pending_batches__gt=0, then=F("pending_batches") - 1), default=Value(0)
        ),
    }
    if batch.stopped:
        figures["budget_exhausted"] = True
    SyncRun.objects.filter(pk=run_id).update(**figures)
    SyncRun.objects.filter(pk=run_id, pending_batches=0, finished_at=None).update(finished_at=now)


def run_batch(
    domain_ids: Sequence[Any],
    *,
    run_id: int | None,
    lease: datetime,
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """Sync the domains among `domain_ids` still holding `lease`, one GET (or work) each.

    Idempotent: a redelivered batch finds the domains it finished re-scheduled (no longer on
    the lease) and skips them. Cloudflare trouble never raises: transient errors are retried
    on a later cycle, a spent budget releases the rest.
    """
    batch = _new_batch(lease, progress)
    domains = list(batch.held(domain_ids).order_by("next_sync_at", "pk"))
    batch.advance(len(domain_ids) - len(domains))
    try:
        sync_by_get(batch, domains)
    finally:
        _finish(batch, run_id)
    return batch


def _claimed_remote(lease: datetime) -> dict[str, Any]:
    """The cycle's registered domains' primary keys by Cloudflare id, in one query of two
    columns for the whole listing (the rows themselves are read a chunk at a time)."""
    return dict(
        Domain.objects.filter(next_sync_at=lease)
        .exclude(cloudflare_id="")
        .exclude(status__in=WORK_STATUSES)
        .values_list("cloudflare_id", "pk")
    )


def run_zone(
    *, run_id: int | None, lease: datetime, progress: Callable[[int], None] | None = None
) -> Batch:
    """Sync every claimed, registered domain of the cycle from one listing of the zone.

    Idempotent like `run_batch`: it works on the domains still holding `lease`.
    """
    batch = _new_batch(lease, progress)
    try:
        sync_by_listing(batch, wanted=_claimed_remote(lease))
    finally:
        _finish(batch, run_id)
    return batch


@dataclass(frozen=True)
class Plan:
    """What one cycle claimed and how it will fetch it."""

    run: SyncRun
    strategy: str
    batches: list[list[Any]]  # ids for `run_batch`
    listing: bool  # whether `run_zone` runs too


def plan_cycle(*, now: datetime | None = None, trigger: str = "beat") -> Plan:
    """Claim the due domains, record the run and choose the cheaper fetch strategy.

    Safe to run concurrently with itself: each domain is claimed by exactly one cycle.
    """
    now = now or timezone.now()
    lease, due, claimed = claim_due(
        now=now,
        limit=int(settings.SYNC_MAX_PER_CYCLE),
        lease_seconds=int(settings.SYNC_LEASE_SECONDS),
    )
    rows = (
        list(Domain.objects.filter(next_sync_at=lease).values_list("pk", "status", "cloudflare_id"))
        if claimed
        else []
    )
    remote = [pk for pk, status, cf_id in rows if cf_id and status not in WORK_STATUSES]
    work = [pk for pk, status, cf_id in rows if not (cf_id and status not in WORK_STATUSES)]
    # Every hostname in the zone is ours, so our count is the zone's size (no call needed).
    zone_size = Domain.objects.exclude(cloudflare_id="").count() if remote else 0
    pages = max(1, math.ceil(zone_size / MAX_PER_PAGE))
    listing = len(remote) > pages
    size = max(1, int(settings.SYNC_BATCH_SIZE))
    to_get = work if listing else work + remote
    batches = [to_get[i : i + size] for i in range(0, len(to_get), size)]
    if listing:
        strategy = SyncStrategy.LIST
    elif remote:
        strategy = SyncStrategy.GET
    else:
        strategy = SyncStrategy.GET if work else SyncStrategy.NONE
    pending = len(batches) + (1 if listing else 0)
    run = SyncRun.objects.create(
        started_at=now,
        trigger=trigger,
        strategy=strategy,
        lease_until=lease,
        zone_size=zone_size,
        due=due,
        claimed=claimed,
        pending_batches=pending,
        finished_at=None if pending else now,
    )
    return Plan(run=run, strategy=strategy, batches=batches, listing=listing)


def schedule_cycle(*, now: datetime | None = None) -> SyncRun:
    """Plan a cycle and enqueue its batches on workers (after the claim commits)."""
    from domains import tasks

    with transaction.atomic():
        plan = plan_cycle(now=now, trigger="beat")
        run = plan.run
        lease = run.lease_until.isoformat() if run.lease_until else ""

        def enqueue() -> None:
            if plan.listing:
                tasks.sync_zone.delay(run_id=run.pk, lease=lease)
            for ids in plan.batches:
                tasks.sync_batch.delay([str(pk) for pk in ids], run_id=run.pk, lease=lease)

        transaction.on_commit(enqueue)
    send_transition_emails()
    logger.info(
        "sync: run %s claimed %s of %s due, strategy %s, %s batches",
        run.pk,
        run.claimed,
        run.due,
        run.strategy,
        run.pending_batches,
    )
    return run


def run_cycle(
    *,
    now: datetime | None = None,
    trigger: str = "command",
    on_plan: Callable[[SyncRun], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncRun:
    """One full cycle in this process, without a worker (the `sync_domains` command, tests)."""
    plan = plan_cycle(now=now, trigger=trigger)
    run = plan.run
    if on_plan is not None:
        on_plan(run)
    lease = run.lease_until
    assert lease is not None  # set by plan_cycle  # noqa: S101 - type narrowing
    if plan.listing:
        run_zone(run_id=run.pk, lease=lease, progress=progress)
    for ids in plan.batches:
        run_batch(ids, run_id=run.pk, lease=lease, progress=progress)
    send_transition_emails()
    run.refresh_from_db()
    return run


def send_transition_emails() -> int:
    """Email owners about status changes no batch has announced yet (e.g. from Check now).

    Idempotent (each transition is recorded once before its email goes); returns emails sent.
    """
    return notifications.send_many(notifications.record_transitions())


def sync_one(domain: Domain) -> Domain | None:
    """Sync one domain now, whatever its schedule (the `sync_domain` command).

    Returns the domain as it is afterwards, or None once a deletion finished. Raises
    `RuntimeError` if another cycle re-scheduled it in the same instant (try again).
    """
    now = timezone.now()
    lease = claim_one(domain, now=now)
    if lease is None:
        raise RuntimeError(f"{domain.hostname} changed while being claimed; try again")
    run = SyncRun.objects.create(
        started_at=now,
        trigger="command",
        strategy=SyncStrategy.GET,
        lease_until=lease,
        due=1,
        claimed=1,
        pending_batches=1,
    )
    run_batch([domain.pk], run_id=run.pk, lease=lease)
    return Domain.objects.filter(pk=domain.pk).first()
