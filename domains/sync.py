"""The sync loop: keep every domain's status equal to Cloudflare's, with few calls and few queries.

One cycle (`schedule_cycle`, run every minute by beat through `domains.schedule_sync`):

1. **Claim** the due domains (`next_sync_at <= now`) with one conditional UPDATE that moves their
   `next_sync_at` to a lease: a timestamp unique to this cycle (`SyncRun.lease_until`), which is
   also the claim token. A concurrent cycle's UPDATE re-checks `next_sync_at <= now` on each row
   it writes (PostgreSQL re-evaluates the condition after waiting for the row lock; SQLite runs
   one writer at a time), so no domain is claimed twice. A worker that dies leaves its domains
   on the lease, which expires into the past: the first cycle after it claims them again.
2. **Choose how to fetch**: one GET per claimed domain costs N calls; listing the zone costs
   ceil(zone size / 50). The zone holds only our hostnames, so its size is our count of domains
   with a Cloudflare id. The cheaper one wins.
3. **Fan out** to workers (`sync_batch` with ids, `sync_zone` for the listing), enqueued on
   commit. Each batch applies Cloudflare's answers in bulk: one `bulk_update` of the changed
   rows, one `bulk_create` of their events, and one UPDATE that moves the unchanged rows' next
   check (a CASE on their attempt count), so queries grow with pages and batches, not with
   unchanged domains. Registering/deleting leftovers, `moved` refreshes and hostnames that
   vanished at Cloudflare are per-domain work by nature.
4. **Stop cleanly** when the shared rate budget (spent at `priority="bulk"`) runs out or
   Cloudflare says 429: the unprocessed domains are released to the time the budget reopens;
   nothing is marked failed for it.

Every step is safe to run twice: batches only touch domains still holding their cycle's lease,
events are recorded only for real changes, and each email is recorded before it is sent.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone

from domains import notifications
from domains.cloudflare import (
    MAX_PER_PAGE,
    CloudflareClient,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflareRateLimitedError,
    CustomHostname,
)
from domains.models import (
    Domain,
    DomainEvent,
    DomainEventKind,
    DomainNotification,
    DomainStatus,
    NotificationKind,
    SyncRun,
    SyncStrategy,
)
from domains.rate_budget import Priority
from domains.services import (
    _event,
    _forget_remote,
    domain_finish_deletion,
    domain_finish_registration,
    remote_fields,
)

logger = logging.getLogger(__name__)

# Statuses whose work is a Cloudflare write (create/delete), not a read.
WORK_STATUSES = (DomainStatus.REGISTERING, DomainStatus.DELETING)
# What `domain_apply_remote` writes; a domain whose values all match Cloudflare's is unchanged.
REMOTE_FIELDS = (
    "cloudflare_id",
    "cloudflare_status",
    "ssl_status",
    "ssl_method",
    "verification_errors",
    "validation_errors",
    "dns_records",
    "certificate_issuer",
    "certificate_expires_at",
    "status",
    "last_error",
    "activated_at",
    "moved_refresh_at",
)
WRITTEN_FIELDS = (*REMOTE_FIELDS, "next_sync_at", "sync_attempts", "last_synced_at", "updated_at")


# ---------------------------------------------------------------------------------------------
# The schedule
# ---------------------------------------------------------------------------------------------
def pending_delay(checks: int) -> int:
    """Seconds until the next check of a domain checked `checks` times while pending.

    Cloudflare's own validation backoff (CONTRACT.md 5.4): min(floor(base * 1.05^n), cap) for
    the first 10 attempts, then 1.15^n. Checking more often than Cloudflare validates would
    only spend calls on answers that cannot have changed.
    """
    base = int(settings.SYNC_PENDING_BASE_SECONDS)
    cap = int(settings.SYNC_PENDING_MAX_SECONDS)
    factor = 1.05 if checks <= 10 else 1.15
    # Past ~60 checks the power overflows nothing but is far past the cap anyway.
    return min(math.floor(base * factor ** min(checks, 200)), cap)


def retry_delay(attempts: int) -> int:
    """Seconds before retrying registering/deleting work or a failed fetch: doubling, capped."""
    base = int(settings.SYNC_RETRY_BASE_SECONDS)
    cap = int(settings.SYNC_RETRY_MAX_SECONDS)
    return min(base * 2 ** min(max(attempts - 1, 0), 30), cap)


def next_delay(status: str, checks: int, *, cloudflare_status: str = "") -> int | None:
    """Seconds until the next check of a domain in `status` after `checks` checks in it.

    None stops the loop for the domain: a `blocked` hostname stays blocked until someone acts,
    and pressing Check now puts it back on the schedule.
    """
    if status == DomainStatus.ACTIVE:
        return int(settings.SYNC_ACTIVE_INTERVAL_SECONDS)
    if status == DomainStatus.FAILED:
        if cloudflare_status == "blocked":
            return None
        return int(settings.SYNC_FAILED_INTERVAL_SECONDS)
    if status in WORK_STATUSES:
        return retry_delay(checks)
    return pending_delay(max(checks, 1))


@cache
def _pending_saturation(base: int, cap: int) -> int:
    """The first check count from which `pending_delay` is always the cap."""
    checks = 1
    while min(math.floor(base * (1.05 if checks <= 10 else 1.15) ** checks), cap) < cap:
        checks += 1
    return checks


def _next_sync_expression(now: datetime) -> Case:
    """`next_sync_at` for unchanged rows in one UPDATE, from each row's status and attempts.

    The pending branch has one WHEN per attempt count below the cap (about 40), whatever the
    number of rows, so the statement stays the same size as the zone grows.
    """
    saturation = _pending_saturation(
        int(settings.SYNC_PENDING_BASE_SECONDS), int(settings.SYNC_PENDING_MAX_SECONDS)
    )

    def at(seconds: int | None) -> Value:
        return Value(None if seconds is None else now + timedelta(seconds=seconds))

    whens = [
        When(status=DomainStatus.ACTIVE, then=at(next_delay(DomainStatus.ACTIVE, 0))),
        When(
            status=DomainStatus.FAILED,
            cloudflare_status="blocked",
            then=at(None),
        ),
        When(status=DomainStatus.FAILED, then=at(next_delay(DomainStatus.FAILED, 0))),
    ]
    # The row's attempts count before this check; this check makes it attempts + 1.
    whens += [
        When(status=DomainStatus.PENDING, sync_attempts=n, then=at(pending_delay(n + 1)))
        for n in range(saturation)
    ]
    return Case(
        *whens,
        default=at(int(settings.SYNC_PENDING_MAX_SECONDS)),
        output_field=DateTimeField(null=True),
    )


# ---------------------------------------------------------------------------------------------
# Claiming
# ---------------------------------------------------------------------------------------------
def claim_due(*, now: datetime, limit: int, lease_seconds: int) -> tuple[datetime, int, int]:
    """Claim up to `limit` due domains, oldest first. Returns (lease token, due, claimed).

    One UPDATE claims them all. The token is `now + lease` plus random microseconds, so two
    cycles started in the same instant still hold different tokens (a collision needs the same
    microsecond out of a million); each reads back only the rows carrying its own token.
    """
    lease = now + timedelta(seconds=lease_seconds, microseconds=secrets.randbelow(1_000_000))
    due = Domain.objects.due_for_sync(now)
    due_count = due.count()
    if not due_count:
        return lease, 0, 0
    oldest = due.order_by("next_sync_at").values("pk")[:limit]
    claimed = Domain.objects.filter(pk__in=oldest, next_sync_at__lte=now).update(next_sync_at=lease)
    return lease, due_count, claimed


def claim_one(domain: Domain, *, now: datetime) -> datetime | None:
    """Claim one domain whatever its schedule (the `sync_domain` command); None if it moved."""
    lease = now + timedelta(
        seconds=int(settings.SYNC_LEASE_SECONDS), microseconds=secrets.randbelow(1_000_000)
    )
    taken = Domain.objects.filter(pk=domain.pk, next_sync_at=domain.next_sync_at).update(
        next_sync_at=lease
    )
    return lease if taken else None


def sync_lag(now: datetime | None = None) -> timedelta:
    """How long the oldest due domain has waited past its check time (zero when none waits)."""
    now = now or timezone.now()
    oldest = (
        Domain.objects.due_for_sync(now)
        .order_by("next_sync_at")
        .values_list("next_sync_at", flat=True)
        .first()
    )
    return max(now - oldest, timedelta(0)) if oldest else timedelta(0)


def last_run() -> SyncRun | None:
    return SyncRun.objects.order_by("-started_at", "-id").first()


# ---------------------------------------------------------------------------------------------
# One batch's bookkeeping
# ---------------------------------------------------------------------------------------------
class SyncClient(CloudflareClient):
    """The Cloudflare client of one batch: bulk priority, a short budget wait, and a flag.

    Services swallow Cloudflare errors into the domain's `last_error`; `rate_limited` tells the
    batch that the budget (or Cloudflare's 429) stopped a call, so it stops instead of spending
    the rest of its domains on refusals.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_wait", float(settings.SYNC_BUDGET_WAIT_SECONDS))
        super().__init__(**kwargs)
        self.rate_limited = False
        self.retry_after = 0.0

    def _request(self, method: str, path: str, *, priority: Priority, **kwargs: Any) -> Any:
        try:
            return super()._request(method, path, priority=priority, **kwargs)
        except CloudflareRateLimitedError as error:
            self.rate_limited = True
            self.retry_after = max(self.retry_after, float(error.retry_after or 0.0))
            raise


@dataclass
class Batch:
    """What one batch (or one inline cycle) is doing, and what it has done."""

    lease: datetime
    now: datetime
    client: SyncClient
    fetched: int = 0
    changed: int = 0
    errors: int = 0
    progress: Callable[[int], None] | None = None
    outbox: list[DomainNotification] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return self.client.rate_limited

    def advance(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)

    def held(self, ids: Iterable[Any]) -> Any:
        """The rows among `ids` this cycle still holds (not re-scheduled by anyone since)."""
        return Domain.objects.filter(pk__in=list(ids), next_sync_at=self.lease)

    def release(self, ids: Iterable[Any]) -> None:
        """Give unprocessed domains back for when the budget reopens (nothing marked failed)."""
        ids = list(ids)
        if ids:
            wait = max(self.client.retry_after, 1.0)
            self.held(ids).update(next_sync_at=self.now + timedelta(seconds=wait))
            self.advance(len(ids))

    def retry_later(self, ids: Iterable[Any]) -> None:
        """A fetch failed (transient or not): keep the status, look again after a backoff
        that doubles with the domain's attempts (one UPDATE, a WHEN per doubling)."""
        ids = list(ids)
        if ids:
            self.errors += len(ids)
            cap = int(settings.SYNC_RETRY_MAX_SECONDS)
            steps = 0
            while retry_delay(steps + 1) < cap:
                steps += 1
            at = Case(
                *(
                    When(
                        sync_attempts=n,
                        then=Value(self.now + timedelta(seconds=retry_delay(n + 1))),
                    )
                    for n in range(steps)
                ),
                default=Value(self.now + timedelta(seconds=cap)),
                output_field=DateTimeField(),
            )
            self.held(ids).update(next_sync_at=at, sync_attempts=F("sync_attempts") + 1)
            self.advance(len(ids))


# ---------------------------------------------------------------------------------------------
# Per-domain work: registering, deleting, re-registering
# ---------------------------------------------------------------------------------------------
def _finish_work(batch: Batch, domain: Domain) -> None:
    """Finish a half-done registration or deletion (or re-register a vanished hostname)."""
    before = domain.status
    if domain.status == DomainStatus.DELETING:
        remaining = domain_finish_deletion(domain=domain, priority="bulk", client=batch.client)
        if remaining is None:
            batch.changed += 1
            batch.advance(1)
            return
        domain = remaining
    else:
        domain = domain_finish_registration(domain=domain, priority="bulk", client=batch.client)
    attempts = domain.sync_attempts if domain.status in WORK_STATUSES else 0
    delay = next_delay(domain.status, attempts, cloudflare_status=domain.cloudflare_status)
    if domain.status in WORK_STATUSES and domain.last_error:
        batch.errors += 1
    Domain.objects.filter(pk=domain.pk).update(
        next_sync_at=None if delay is None else batch.now + timedelta(seconds=delay),
        sync_attempts=attempts,
    )
    if domain.status != before:
        batch.changed += 1
        batch.fetched += 1
    batch.advance(1)


def _reregister(batch: Batch, domain: Domain) -> None:
    """Cloudflare no longer has the hostname: register it again, never keep showing it active."""
    domain = _forget_remote(domain)
    _finish_work(batch, domain)


# ---------------------------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------------------------
def sync_by_get(batch: Batch, domains: Sequence[Domain]) -> None:
    """One GET per domain (or the registration/deletion it is waiting for), applied in bulk."""
    answers: list[tuple[Domain, CustomHostname]] = []
    failed: list[Any] = []
    for index, domain in enumerate(domains):
        if batch.stopped:
            batch.release(d.pk for d in domains[index:])
            break
        if domain.status in WORK_STATUSES or not domain.cloudflare_id:
            _finish_work(batch, domain)
            continue
        try:
            remote = batch.client.get(domain.cloudflare_id, priority="bulk")
        except CloudflareNotFoundError:
            _reregister(batch, domain)
        except CloudflareRateLimitedError:
            batch.release(d.pk for d in domains[index:])
            break
        except CloudflareError as error:
            logger.warning("sync: %s: %s", domain.hostname, error)
            failed.append(domain.pk)
        else:
            answers.append((domain, remote))
    batch.retry_later(failed)
    apply_answers(batch, answers)


def sync_by_listing(batch: Batch, *, wanted: dict[str, Domain]) -> None:
    """Page through the zone and apply the pages' states to the claimed domains in them.

    `wanted` maps Cloudflare id to the claimed domain, loaded once for the whole listing, so a
    page of unchanged hostnames costs no query at all; their next check is written once at the
    end (`touch_unchanged`). Ids the listing never showed are fetched one by one afterwards
    (usually a 404: the hostname vanished).
    """
    wanted = dict(wanted)
    unchanged: list[Any] = []
    try:
        for page in batch.client.iter_pages(per_page=MAX_PER_PAGE, priority="bulk"):
            mine = [(wanted.pop(item.id), item) for item in page.items if item.id in wanted]
            if mine:
                apply_answers(batch, mine, unchanged=unchanged)
            if batch.stopped:
                break
    except CloudflareRateLimitedError:
        batch.release(d.pk for d in wanted.values())
        return
    except CloudflareError as error:
        logger.warning("sync: listing the zone failed: %s", error)
        batch.retry_later(d.pk for d in wanted.values())
        return
    finally:
        touch_unchanged(batch, unchanged)
    if batch.stopped:
        batch.release(d.pk for d in wanted.values())
        return
    if wanted:
        leftovers = [d.pk for d in wanted.values()]
        sync_by_get(batch, list(batch.held(leftovers).order_by("next_sync_at", "pk")))


# ---------------------------------------------------------------------------------------------
# Applying Cloudflare's answers in bulk
# ---------------------------------------------------------------------------------------------
def _refresh_moved(
    batch: Batch, answers: list[tuple[Domain, CustomHostname]]
) -> list[tuple[Domain, CustomHostname]]:
    """Ask Cloudflare once to re-validate each newly `moved` hostname; handle vanished ones."""
    kept: list[tuple[Domain, CustomHostname]] = []
    for domain, remote in answers:
        if remote.status == "deleted":
            _reregister(batch, domain)
            continue
        if (
            remote.status == "moved"
            and domain.moved_refresh_at is None
            and domain.status != DomainStatus.DELETING
        ):
            if batch.stopped:
                batch.release([domain.pk])
                continue
            try:
                remote = batch.client.refresh(
                    domain.cloudflare_id, method=domain.ssl_method or None, priority="bulk"
                )
            except CloudflareNotFoundError:
                _reregister(batch, domain)
                continue
            except CloudflareRateLimitedError:
                batch.release([domain.pk])
                continue
            except CloudflareError as error:
                logger.warning("sync: refreshing %s failed: %s", domain.hostname, error)
                batch.retry_later([domain.pk])
                continue
            # Recorded whatever the answer: the refresh is asked for once per move.
            domain.moved_refresh_at = batch.now
        kept.append((domain, remote))
    return kept


def apply_answers(
    batch: Batch,
    answers: list[tuple[Domain, CustomHostname]],
    *,
    unchanged: list[Any] | None = None,
) -> None:
    """Write Cloudflare's answers: changed rows and their events in bulk, unchanged in one UPDATE
    (or, given an `unchanged` list, collected there for the caller to write once: see
    `touch_unchanged`).

    Idempotent: a second call with the same answers finds every row unchanged (or no longer
    held by this cycle) and records nothing.
    """
    answers = _refresh_moved(batch, answers)
    if not answers:
        return
    now = batch.now
    batch.fetched += len(answers)
    changed: list[Domain] = []
    same: list[Any] = []
    events: list[DomainEvent] = []
    expiring: list[Domain] = []
    warn_before = now + timedelta(days=int(settings.SYNC_CERT_EXPIRY_WARNING_DAYS))
    for domain, remote in answers:
        fields = remote_fields(domain, remote, now)
        expires = fields["certificate_expires_at"]
        if (
            fields["status"] == DomainStatus.ACTIVE
            and expires is not None
            and expires < warn_before
        ):
            expiring.append(domain)
        if all(getattr(domain, name) == value for name, value in fields.items()):
            same.append(domain.pk)
            continue
        before = (domain.status, domain.cloudflare_status, domain.ssl_status)
        after = (fields["status"], remote.status, remote.ssl_status)
        for name, value in fields.items():
            setattr(domain, name, value)
        domain.sync_attempts = 0 if after[0] != before[0] else domain.sync_attempts + 1
        delay = next_delay(domain.status, domain.sync_attempts, cloudflare_status=remote.status)
        domain.next_sync_at = None if delay is None else now + timedelta(seconds=delay)
        domain.last_synced_at = now
        domain.updated_at = now
        changed.append(domain)
        if after != before:
            events.append(
                _event(
                    domain,
                    DomainEventKind.STATUS_CHANGED,
                    from_status=before[0],
                    to_status=domain.status,
                    message=f"Cloudflare: hostname {remote.status or '—'}, "
                    f"certificate {remote.ssl_status or '—'}",
                    data={
                        "hostname_status": [before[1], remote.status],
                        "ssl_status": [before[2], remote.ssl_status],
                        "by": "sync",
                    },
                )
            )
    if changed:
        with transaction.atomic():
            # Only rows this cycle still holds: a deletion or a Check now since the claim wins
            # (select_for_update keeps them from changing until we commit, on PostgreSQL; on
            # SQLite the IMMEDIATE transaction already holds the write lock).
            held = set(
                batch.held(d.pk for d in changed).select_for_update().values_list("pk", flat=True)
            )
            changed = [d for d in changed if d.pk in held]
            events = [e for e in events if e.domain_id in held]
            Domain.objects.bulk_update(changed, WRITTEN_FIELDS)
            DomainEvent.objects.bulk_create(events)
        batch.changed += len(changed)
    # Status emails are derived from the events just written (see `_finish`); expiry has no
    # event, so it is recorded here, once per certificate.
    _queue_expiry_notifications(batch, expiring)
    if unchanged is not None:
        unchanged.extend(same)
    else:
        touch_unchanged(batch, same)
    batch.advance(len(answers))


TOUCH_CHUNK = 5000


def touch_unchanged(batch: Batch, pks: list[Any]) -> None:
    """The only write an unchanged domain needs: its next check. One statement per 5,000
    domains (a bound on the statement's parameters), whatever the number of pages."""
    for start in range(0, len(pks), TOUCH_CHUNK):
        batch.held(pks[start : start + TOUCH_CHUNK]).filter(
            Q(status__in=[DomainStatus.ACTIVE, DomainStatus.FAILED, DomainStatus.PENDING])
        ).update(
            next_sync_at=_next_sync_expression(batch.now),
            sync_attempts=F("sync_attempts") + 1,
            last_synced_at=batch.now,
        )


# ---------------------------------------------------------------------------------------------
# Notifications (recorded in the apply transaction, sent after it commits)
# ---------------------------------------------------------------------------------------------
def _queue_expiry_notifications(batch: Batch, domains: list[Domain]) -> None:
    if not domains:
        return
    sent = set(
        DomainNotification.objects.filter(
            domain__in=[d.pk for d in domains], kind=NotificationKind.EXPIRING
        ).values_list("domain_id", "key")
    )
    for domain in domains:
        expires = domain.certificate_expires_at
        if expires is None:
            continue
        key = expires.date().isoformat()
        if (domain.pk, key) in sent:
            continue
        notification = notifications.record(domain=domain, kind=NotificationKind.EXPIRING, key=key)
        if notification is not None:
            batch.outbox.append(notification)


def _send_outbox(batch: Batch) -> None:
    outbox, batch.outbox = batch.outbox, []
    # Transitions applied by this batch, by Check now or by a registration: all are events.
    outbox += notifications.record_transitions(now=batch.now)
    for notification in outbox:
        notifications.send(notification)


# ---------------------------------------------------------------------------------------------
# Batches and cycles
# ---------------------------------------------------------------------------------------------
def _new_batch(
    lease: datetime, progress: Callable[[int], None] | None = None, now: datetime | None = None
) -> Batch:
    return Batch(lease=lease, now=now or timezone.now(), client=SyncClient(), progress=progress)


def _finish(batch: Batch, run_id: int | None) -> None:
    """Send the batch's emails and add its figures to the cycle's run."""
    _send_outbox(batch)
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


def _claimed_remote(lease: datetime) -> dict[str, Domain]:
    """The cycle's registered domains by Cloudflare id, in one query for the whole listing."""
    return {
        domain.cloudflare_id: domain
        for domain in Domain.objects.filter(next_sync_at=lease)
        .exclude(cloudflare_id="")
        .exclude(status__in=WORK_STATUSES)
    }


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
    return sum(notifications.send(n) for n in notifications.record_transitions())


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
