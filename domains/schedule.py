"""When each domain is checked next, how due domains are claimed for a cycle, and whether
Cloudflare's notifications are arriving (which slows the polling of pending domains)."""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db.models import Case, DateTimeField, Q, Value, When
from django.utils import timezone

from domains.cloudflare import MAX_PER_PAGE
from domains.models import (
    CloudflareHint,
    Domain,
    DomainStatus,
    HintOutcome,
    SyncRun,
)

# Cloudflare's validation backoff for a pending hostname (domains/cloudflare/CONTRACT.md 5.4):
# the first recheck after a minute, growing to at most four hours.
PENDING_BASE_SECONDS = 60
PENDING_MAX_SECONDS = 4 * 3600
# Registering/deleting leftovers and transient Cloudflare errors: a minute, doubling, capped at
# an hour (Cloudflare's outages are minutes long; an hour keeps a stuck domain in view).
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 3600

# The most of the bulk budget (CLOUDFLARE_RATE_LIMIT - CLOUDFLARE_RATE_RESERVED a window) the
# shared check of active domains may spend on average before its interval grows
# (`active_interval`): a tenth leaves the rest for pending domains and push.
ACTIVE_CHECK_SHARE = 0.10

# Statuses whose work is a Cloudflare write (create/delete), not a read.
WORK_STATUSES = (DomainStatus.REGISTERING, DomainStatus.DELETING)


# ---------------------------------------------------------------------------------------------
# The schedule
# ---------------------------------------------------------------------------------------------
def pending_delay(checks: int) -> int:
    """Seconds until the next check of a domain checked `checks` times while pending.

    Cloudflare's own validation backoff (domains/cloudflare/CONTRACT.md 5.4): min(floor(base *
    1.05^n), cap) for the first 10 attempts, then 1.15^n. Checking more often than Cloudflare
    validates would only spend calls on answers that cannot have changed.
    """
    base, cap = PENDING_BASE_SECONDS, PENDING_MAX_SECONDS
    factor = 1.05 if checks <= 10 else 1.15
    # Past ~60 checks the power overflows nothing but is far past the cap anyway.
    return min(math.floor(base * factor ** min(checks, 200)), cap)


def retry_delay(attempts: int) -> int:
    """Seconds before retrying registering/deleting work or a failed fetch: doubling, capped."""
    base, cap = RETRY_BASE_SECONDS, RETRY_MAX_SECONDS
    return int(min(base * 2 ** min(max(attempts - 1, 0), 30), cap))


def active_interval(zone_size: int | None = None) -> int:
    """Seconds between the shared checks of active domains for a zone of `zone_size`
    hostnames (None: as the last cycle that counted the zone found it).

    SYNC_ACTIVE_INTERVAL_SECONDS, unless listing the zone that often would spend more than
    ACTIVE_CHECK_SHARE of the bulk budget on average (a zone past ~360,000 hostnames with
    Cloudflare's 1,200 calls per 5 minutes): then the first of 8, 12 and 24 hours that keeps it
    within, and a day at most, the daily reconciliation of domains/cloudflare/CONTRACT.md
    §11.5. The longer intervals divide a day, so the checks keep their moments as a zone grows.
    """
    base = max(1, int(settings.SYNC_ACTIVE_INTERVAL_SECONDS))
    if zone_size is None:
        counted = SyncRun.objects.filter(zone_size__gt=0).order_by("-started_at", "-id")
        zone_size = counted.values_list("zone_size", flat=True).first() or 0
    bulk = int(settings.CLOUDFLARE_RATE_LIMIT) - int(settings.CLOUDFLARE_RATE_RESERVED)
    allowance = max(bulk, 1) * ACTIVE_CHECK_SHARE / max(int(settings.CLOUDFLARE_RATE_WINDOW), 1)
    pages = math.ceil(zone_size / MAX_PER_PAGE)
    for interval in (base, *(h * 3600 for h in (8, 12, 24) if h * 3600 > base)):
        if pages <= allowance * interval:
            return interval
    return max(base, 24 * 3600)


def active_delay(now: datetime, interval: int | None = None) -> float:
    """Seconds from `now` until the next shared check of active domains: the next multiple of
    `interval` (default SYNC_ACTIVE_INTERVAL_SECONDS; see `active_interval`) since the epoch.
    Every active domain comes due at the same moment, so one listing of the active
    certificates checks them all (50 a call) instead of a GET each spread over the interval;
    a domain that turned active meanwhile joins it."""
    interval = max(1, interval or int(settings.SYNC_ACTIVE_INTERVAL_SECONDS))
    moment = now.timestamp()
    return (math.floor(moment / interval) + 1) * interval - moment


def next_delay(
    status: str,
    checks: int,
    *,
    now: datetime,
    cloudflare_status: str = "",
    pending_floor: float = 0.0,
    active_every: int | None = None,
) -> float | None:
    """Seconds from `now` until the next check of a domain in `status` after `checks` checks
    in it; a pending one no sooner than `pending_floor` (while push reports its steps); an
    active one at the next shared check, every `active_every` seconds (`active_interval`).

    None stops the loop for the domain: a `blocked` hostname stays blocked until someone acts,
    and pressing Check now puts it back on the schedule.
    """
    if status == DomainStatus.ACTIVE:
        return active_delay(now, active_every)
    if status == DomainStatus.FAILED:
        if cloudflare_status == "blocked":
            return None
        return int(settings.SYNC_FAILED_INTERVAL_SECONDS)
    if status in WORK_STATUSES:
        return retry_delay(checks)
    return max(pending_delay(max(checks, 1)), pending_floor)


@cache
def _pending_saturation(base: int, cap: int) -> int:
    """The first check count from which `pending_delay` is always the cap."""
    checks = 1
    while min(math.floor(base * (1.05 if checks <= 10 else 1.15) ** checks), cap) < cap:
        checks += 1
    return checks


def next_sync_expression(
    now: datetime, *, pending_floor: float = 0.0, active_every: int | None = None
) -> Case:
    """`next_sync_at` for unchanged rows in one UPDATE, from each row's status and attempts
    (pending ones no sooner than `pending_floor`, active ones every `active_every`, as
    `next_delay`).

    The pending branch has one WHEN per attempt count below the cap (about 40), whatever the
    number of rows, so the statement stays the same size as the zone grows.
    """
    saturation = _pending_saturation(PENDING_BASE_SECONDS, PENDING_MAX_SECONDS)

    def at(seconds: float | None) -> Value:
        return Value(None if seconds is None else now + timedelta(seconds=seconds))

    whens = [
        When(status=DomainStatus.ACTIVE, then=at(active_delay(now, active_every))),
        When(
            status=DomainStatus.FAILED,
            cloudflare_status="blocked",
            then=at(None),
        ),
        When(status=DomainStatus.FAILED, then=at(next_delay(DomainStatus.FAILED, 0, now=now))),
    ]
    # The row's attempts count before this check; this check makes it attempts + 1.
    whens += [
        When(
            status=DomainStatus.PENDING,
            sync_attempts=n,
            then=at(max(pending_delay(n + 1), pending_floor)),
        )
        for n in range(saturation)
    ]
    return Case(
        *whens,
        default=at(max(PENDING_MAX_SECONDS, pending_floor)),
        output_field=DateTimeField(null=True),
    )


# ---------------------------------------------------------------------------------------------
# Claiming
# ---------------------------------------------------------------------------------------------
def claim_due(
    *, now: datetime, limit: int, lease_seconds: int, since: datetime | None = None
) -> tuple[datetime, int, int]:
    """Claim up to `limit` due domains, oldest first (only those due after `since`, when
    given: see `listing_since`). Returns (lease token, due, claimed).

    One UPDATE claims them all. The token is `now + lease` plus random microseconds, so two
    cycles started in the same instant still hold different tokens (a collision needs the same
    microsecond out of a million); each reads back only the rows carrying its own token.
    """
    lease = now + timedelta(seconds=lease_seconds, microseconds=secrets.randbelow(1_000_000))
    due = Domain.objects.due_for_sync(now)
    if since is not None:
        due = due.filter(next_sync_at__gt=since)
    due_count = due.count()
    if not due_count:
        return lease, 0, 0
    oldest = due.order_by("next_sync_at").values("pk")[:limit]
    claimed = Domain.objects.filter(pk__in=oldest, next_sync_at__lte=now).update(next_sync_at=lease)
    return lease, due_count, claimed


def listing_since(now: datetime, *, window_start: datetime) -> datetime | None:
    """When the newest cycle whose listings still cover the domains due at its start began
    (None: none does): one whose listings are running, or one the budget stopped in the
    current rate window (which began at `window_start`).

    Its listings take every due domain their pages show as they read them (`claim_shown`),
    and the next window's listing goes on where the budget stopped it, so a cycle started
    meanwhile claims only the domains due since: one that claimed the rest too would list the
    same pages again (a zone's shared check, twice), or claim and give back what no listing
    can read before the window resets.
    """
    recent = SyncRun.objects.filter(
        started_at__gt=now - timedelta(seconds=int(settings.SYNC_LEASE_SECONDS)),
        started_at__lte=now,
    ).exclude(listed=[])
    covering = recent.filter(
        Q(finished_at=None, lease_until__gt=now)
        | Q(budget_exhausted=True, started_at__gte=window_start)
    )
    return covering.order_by("-started_at").values_list("started_at", flat=True).first()


def claim_shown(*, now: datetime, lease: datetime, cloudflare_ids: list[str]) -> int:
    """Claim, onto `lease`, the due registered domains among those a listing's page showed
    (`cloudflare_ids`): a listing takes every due domain it shows (its answer costs nothing
    more), when it shows it, instead of the cycle claiming the zone up front and giving back
    what the window's budget did not reach (two writes of every due row a window, during a
    large zone's shared check). Returns how many."""
    due = (
        Domain.objects.due_for_sync(now)
        .filter(cloudflare_id__in=cloudflare_ids)
        # Implies the partial unique index's condition, so SQLite reads that index for the
        # page's ids instead of every due row's next check (a million, during the check).
        .exclude(cloudflare_id="")
        .exclude(status__in=WORK_STATUSES)
    )
    return int(due.update(next_sync_at=lease))


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
# Push: is it reporting?
# ---------------------------------------------------------------------------------------------
# How recently a notification must have come for push to count as reporting (`push_heard`).
PUSH_HEARD_SECONDS = 3600


def push_heard(now: datetime) -> bool:
    """Whether Cloudflare's notifications are arriving: push is set up and one about a
    hostname came within the last hour. While they do, every step of a pending domain's
    certificate is reported (validation, issuance, deployment; domains/cloudflare/CONTRACT.md
    §11.3), so the sync loop polls pending domains no more often than PUSH_BACKSTOP_SECONDS; when
    they stop (a policy switched off, a lost destination), polling returns to Cloudflare's own
    schedule within the hour."""
    if not settings.CLOUDFLARE_WEBHOOK_SECRET:
        return False
    since = now - timedelta(seconds=PUSH_HEARD_SECONDS)
    heard = CloudflareHint.objects.filter(received_at__gte=since).exclude(
        outcome=HintOutcome.IGNORED
    )
    return bool(heard.exists())


def push_reschedule(domain: Domain, now: datetime) -> None:
    """The GET just made was the domain's check: its next one follows the sync loop's schedule
    from now; a pending one no sooner than PUSH_BACKSTOP_SECONDS (push reports its steps, the
    poller is the backstop), an active one with every other at the next shared check. A cycle
    holding the row then finds it no longer on its lease and leaves it: the answer is in."""
    if domain.status not in (DomainStatus.PENDING, DomainStatus.ACTIVE):
        return  # failed, blocked or being removed: the loop's own schedule stands
    delay = next_delay(
        domain.status,
        0,
        now=now,
        cloudflare_status=domain.cloudflare_status,
        pending_floor=float(settings.PUSH_BACKSTOP_SECONDS),
        active_every=active_interval() if domain.status == DomainStatus.ACTIVE else None,
    )
    if delay is not None:
        Domain.objects.filter(pk=domain.pk, status=domain.status).update(
            next_sync_at=now + timedelta(seconds=delay)
        )
