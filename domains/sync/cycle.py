"""Batches and cycles: planning, fanning out, finishing and recording a cycle."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from domains import notifications
from domains.cloudflare import (
    MAX_PER_PAGE,
)
from domains.kick import kick
from domains.models import (
    Domain,
    SyncRun,
    SyncStrategy,
)
from domains.rate_budget import budget
from domains.schedule import (
    WORK_STATUSES,
    active_interval,
    claim_due,
    claim_one,
    listing_since,
    push_heard,
)
from domains.sync.apply import (
    Listing,
    filter_usable,
    resume_order,
    send_emails,
    sync_by_get,
    sync_by_listing,
)
from domains.sync.batch import Batch, SyncClient

logger = logging.getLogger("domains.sync")  # one logger for the whole loop

# Domains fetched one by one per worker task: a task of 50 GETs takes seconds, so a worker that
# dies loses little, and a cycle of many spreads over every worker.
BATCH_SIZE = 50


# ---------------------------------------------------------------------------------------------
# Batches and cycles
# ---------------------------------------------------------------------------------------------
def _new_batch(
    lease: datetime, progress: Callable[[int], None] | None = None, now: datetime | None = None
) -> Batch:
    now = now or timezone.now()
    floor = float(settings.PUSH_BACKSTOP_SECONDS) if push_heard(now) else 0.0
    return Batch(
        lease=lease,
        now=now,
        client=SyncClient(),
        progress=progress,
        pending_floor=floor,
        active_every=active_interval(),
    )


def _add_figures(batch: Batch, run_id: int, *, task_done: bool) -> None:
    figures: dict[str, Any] = {
        "claimed": F("claimed") + batch.claimed,
        "fetched": F("fetched") + batch.fetched,
        "changed": F("changed") + batch.changed,
        "errors": F("errors") + batch.errors,
        "cloudflare_calls": F("cloudflare_calls") + batch.client.calls,
    }
    if task_done:
        figures["pending_batches"] = Case(
            When(pending_batches__gt=0, then=F("pending_batches") - 1), default=Value(0)
        )
    if batch.stopped:
        figures["budget_exhausted"] = True
    if batch.listing_failed:
        figures["listing_failed"] = True
    SyncRun.objects.filter(pk=run_id).update(**figures)


def _finish(batch: Batch, run_id: int | None, *, inline: bool = False) -> None:
    """Send the batch's emails and add its figures to the cycle's run; the cycle's last task
    to finish then sweeps up what the listings left (`sweep`)."""
    send_emails(batch)
    if run_id is None:
        return
    _add_figures(batch, run_id, task_done=True)
    # Exactly one task sees its UPDATE match: the last to finish. The run stays unfinished
    # until the sweep is done (which may hand the zone to more tasks).
    if SyncRun.objects.filter(
        pk=run_id, pending_batches=0, finished_at=None, sweeping=False
    ).update(sweeping=True):
        sweep(run_id=run_id, lease=batch.lease, progress=batch.progress, inline=inline)


SWEEP_CHUNK = 1000


def sweep(
    *,
    run_id: int,
    lease: datetime,
    progress: Callable[[int], None] | None = None,
    inline: bool = False,
) -> Batch:
    """Fetch the domains still holding the finished cycle's lease one by one: the ones its
    listings never showed (a hostname whose certificate status moved out of a listed one,
    one that vanished, pages that shifted under the listing) or a lost batch left. When a
    listing failed, they are retried after a backoff instead; when the budget ran out, they
    wait for the window's reset; when Cloudflare refused the status filter, for the next cycle
    (which lists the whole zone): neither costs a GET each.

    Never more than the zone costs: when more registered domains are left than a listing of
    the whole zone has pages (many left a listed status at once), the zone is listed instead,
    by tasks started here (`inline`: in this process, for `run_cycle`); the cycle's last task
    then fetches only what even that listing did not show.
    """
    batch = _new_batch(lease, progress)
    run = (
        SyncRun.objects.filter(pk=run_id)
        .values("listed", "listing_failed", "budget_exhausted")
        .first()
    )
    failed = bool(run and run["listing_failed"])
    release = False
    if run and run["budget_exhausted"]:
        reset = budget.usage().window_reset_at
        batch.client.retry_after = max(0.0, (reset - batch.now).total_seconds())
        release = True
    elif run and run["listed"] and "" not in run["listed"] and not filter_usable():
        release = True
    listed = list(run["listed"]) if run else []
    handed_over = False
    try:
        if not (failed or release) and "" not in listed:
            left = batch.held_remote().count()
            # The zone counted only as far as it can be cheaper than a GET each (`count_zone`).
            registered = Domain.objects.exclude(cloudflare_id="")
            pages = _pages(registered[: left * MAX_PER_PAGE + 1].count())
            if left > pages:
                handed_over = not inline
                _list_the_zone(batch, run_id, listed, pages, inline=inline)
        # What is left on the lease: retried later or released in one statement each, or
        # fetched one by one a chunk at a time (read by primary key, never all at once).
        after = None
        while not handed_over:
            if failed or batch.listing_failed:
                batch.retry_later()
                break
            if release or batch.stopped:
                batch.release()
                break
            left = batch.held(None).order_by("pk")
            if after is not None:
                left = left.filter(pk__gt=after)
            chunk = list(left.values_list("pk", flat=True)[:SWEEP_CHUNK])
            if not chunk:
                break
            after = chunk[-1]
            sync_by_get(batch, list(batch.held(chunk).order_by("next_sync_at", "pk")))
    finally:
        send_emails(batch)
        _add_figures(batch, run_id, task_done=False)
        if not handed_over:
            SyncRun.objects.filter(pk=run_id).update(finished_at=timezone.now(), sweeping=False)
    return batch


def _list_the_zone(
    batch: Batch, run_id: int, listed: list[str], pages: int, *, inline: bool
) -> None:
    """The sweep's listing of the whole zone: here, or by `sync_zone` tasks whose last one
    sweeps again (the run counts them and is open until they finish)."""
    ranges = page_ranges(pages, int(settings.SYNC_LISTING_PAGES_PER_TASK))
    if inline:
        SyncRun.objects.filter(pk=run_id).update(listed=[*listed, ""])
        sync_by_listing(batch, listing=Listing())
        return
    SyncRun.objects.filter(pk=run_id).update(
        listed=[*listed, ""], pending_batches=len(ranges), sweeping=False
    )
    for first, last in ranges:
        kick(
            "domains.sync_zone",
            run_id=run_id,
            lease=batch.lease.isoformat(),
            ssl_status="",
            first=first,
            last=last,
        )


def run_batch(
    domain_ids: Sequence[Any],
    *,
    run_id: int | None,
    lease: datetime,
    progress: Callable[[int], None] | None = None,
    inline: bool = False,
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
        _finish(batch, run_id, inline=inline)
    return batch


def run_zone(
    *,
    run_id: int | None,
    lease: datetime,
    listing: Listing | None = None,
    progress: Callable[[int], None] | None = None,
    inline: bool = False,
) -> Batch:
    """Sync the cycle's claimed, registered domains that `listing`'s pages show (by default
    the whole zone).

    Idempotent like `run_batch`: it works on the domains still holding `lease`.
    """
    batch = _new_batch(lease, progress)
    try:
        sync_by_listing(batch, listing=listing or Listing())
    finally:
        _finish(batch, run_id, inline=inline)
    return batch


def _pages(hostnames: int) -> int:
    return max(1, math.ceil(hostnames / MAX_PER_PAGE))


def count_zone(claimed: Counter[str]) -> tuple[Counter[str], int, bool]:
    """The zone's registered hostnames by certificate status, and in all, counted only as far
    as `choose_listings` can use: a status up to one more than 50 times its claimed domains,
    the zone up to one more than 50 times all of them. Past that bound a listing costs more
    pages than a GET each, whatever the true count, so a cycle claiming 20 domains of a
    million-hostname zone reads a thousand index entries, not the zone. Returns the counts
    by status, the total and whether the total is exact (below its bound)."""
    registered = Domain.objects.exclude(cloudflare_id="")
    zone: Counter[str] = Counter()
    for ssl_status, n in claimed.items():
        bound = n * MAX_PER_PAGE + 1
        zone[ssl_status] = registered.filter(ssl_status=ssl_status)[:bound].count()
    bound = sum(claimed.values()) * MAX_PER_PAGE + 1
    total = registered[:bound].count()
    return zone, total, total < bound


def choose_listings(
    claimed: Counter[str], zone: Counter[str], *, filtered: bool, total: int | None = None
) -> list[str]:
    """Which listings fetch the claimed registered domains with the fewest calls, from the
    counts by certificate status of the claimed domains and of the zone, and the zone's
    `total` (default: the sum of `zone`); our own rows: every hostname in the zone is ours,
    so no call is needed to count it (`count_zone`). Returns [] for one GET each, [""] for the
    whole zone, or the statuses to list with the `ssl_status` filter (the claimed domains of
    other statuses get one GET each). A tie goes to the fewer listings."""
    everyone = sum(claimed.values())
    whole = _pages(sum(zone.values()) if total is None else total)
    options: list[tuple[int, list[str]]] = [(everyone, []), (whole, [""])]
    if filtered:
        listed = sorted(s for s, n in claimed.items() if s and n > _pages(zone.get(s, 0)))
        cost = sum(_pages(zone.get(s, 0)) for s in listed)
        cost += sum(n for s, n in claimed.items() if s not in listed)
        options.append((cost, listed))
    return min(options, key=lambda option: option[0])[1]


def page_ranges(pages: int, per_task: int) -> list[tuple[int, int | None]]:
    """Split a listing of about `pages` pages into tasks of `per_task` pages; the last one
    runs on to the end, however far the zone has grown since it was counted."""
    tasks = max(1, math.ceil(pages / max(1, per_task)))
    return [(i * per_task + 1, (i + 1) * per_task if i < tasks - 1 else None) for i in range(tasks)]


@dataclass(frozen=True)
class Plan:
    """What one cycle claimed and how it will fetch it."""

    run: SyncRun
    strategy: str
    batches: list[list[Any]]  # ids for `run_batch`
    listings: list[Listing]  # for `run_zone`, one task each


def _window_start() -> datetime:
    reset = budget.usage().window_reset_at
    return reset - timedelta(seconds=int(settings.CLOUDFLARE_RATE_WINDOW))


def plan_cycle(*, now: datetime | None = None, trigger: str = "beat") -> Plan:
    """Claim the due domains, record the run and choose the cheapest way to fetch them: one
    GET each, a listing of the whole zone, or listings of the certificate statuses most of
    them are in. A listing also takes every other due domain its pages show, as it reads them
    (`claim_shown`: it costs nothing more), whatever SYNC_MAX_PER_CYCLE says; it is split into
    tasks of SYNC_LISTING_PAGES_PER_TASK pages, which workers run side by side. While a
    cycle's listings run, or after the budget stopped them, until the window resets, later
    cycles claim only what came due since it started (`listing_since`).

    Safe to run concurrently with itself: each domain is claimed by exactly one cycle.
    """
    now = now or timezone.now()
    if budget.share_used("bulk") >= 1:
        # Nothing could be fetched before the window resets: a claim would only be released
        # (a zone's shared check left due would be claimed and released every 30 seconds).
        run = SyncRun.objects.create(
            started_at=now,
            trigger=trigger,
            strategy=SyncStrategy.NONE,
            budget_exhausted=True,
            finished_at=now,
        )
        return Plan(run=run, strategy=SyncStrategy.NONE, batches=[], listings=[])
    lease, due, claimed = claim_due(
        now=now,
        limit=int(settings.SYNC_MAX_PER_CYCLE),
        lease_seconds=int(settings.SYNC_LEASE_SECONDS),
        since=listing_since(now, window_start=_window_start()),
    )
    rows = (
        list(
            Domain.objects.filter(next_sync_at=lease).values_list(
                "pk", "status", "cloudflare_id", "ssl_status"
            )
        )
        if claimed
        else []
    )
    remote = [(pk, ssl) for pk, status, cf_id, ssl in rows if cf_id and status not in WORK_STATUSES]
    work = [pk for pk, status, cf_id, _ in rows if not (cf_id and status not in WORK_STATUSES)]
    by_claimed = Counter(ssl for _, ssl in remote)
    if due > claimed > 0:
        # The claim stopped at SYNC_MAX_PER_CYCLE, but a listing takes every due domain it
        # shows: weigh all the due ones (in the claimed ones' proportions), or a zone's shared
        # check past 50 times that cap would be fetched a GET each, a cap's worth a cycle.
        scale = due / claimed
        by_claimed = Counter({s: math.ceil(n * scale) for s, n in by_claimed.items()})
    zone, total, exact = count_zone(by_claimed) if remote else (Counter[str](), 0, False)
    listed = choose_listings(by_claimed, zone, filtered=filter_usable(), total=total)
    per_task = int(settings.SYNC_LISTING_PAGES_PER_TASK)
    listings = [
        Listing(ssl_status=ssl, first=first, last=last)
        for ssl in listed
        for first, last in page_ranges(_pages(zone[ssl] if ssl else total), per_task)
    ]
    listings = resume_order(listings)
    covered = set(listed)
    to_get = work + [pk for pk, ssl in remote if not ("" in covered or ssl in covered)]
    size = BATCH_SIZE
    batches = [to_get[i : i + size] for i in range(0, len(to_get), size)]
    if listings:
        strategy = SyncStrategy.LIST
    else:
        strategy = SyncStrategy.GET if (work or remote) else SyncStrategy.NONE
    pending = len(batches) + len(listings)
    run = SyncRun.objects.create(
        started_at=now,
        trigger=trigger,
        strategy=strategy,
        listed=listed,
        lease_until=lease,
        zone_size=total if exact else 0,
        due=due,
        claimed=claimed,
        pending_batches=pending,
        finished_at=None if pending else now,
    )
    return Plan(run=run, strategy=strategy, batches=batches, listings=listings)


def schedule_cycle(*, enqueue: Callable[[Plan], None], now: datetime | None = None) -> SyncRun:
    """Plan a cycle and hand its plan to `enqueue` once the claim commits (the task layer puts
    its listings and batches on workers: this module never starts a task)."""
    with transaction.atomic():
        plan = plan_cycle(now=now, trigger="beat")
        run = plan.run
        transaction.on_commit(lambda: enqueue(plan))
    send_transition_emails()
    logger.info(
        "sync: run %s claimed %s of %s due, strategy %s, %s tasks",
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
    if lease is not None:  # None: the budget was spent, nothing was claimed
        for listing in plan.listings:
            run_zone(run_id=run.pk, lease=lease, listing=listing, progress=progress, inline=True)
        for ids in plan.batches:
            run_batch(ids, run_id=run.pk, lease=lease, progress=progress, inline=True)
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
    run_batch([domain.pk], run_id=run.pk, lease=lease, inline=True)
    return Domain.objects.filter(pk=domain.pk).first()
