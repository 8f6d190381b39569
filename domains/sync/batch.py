"""One batch's bookkeeping: its Cloudflare client and what it has done."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, DateTimeField, F, Q, Value, When

from domains.cloudflare import (
    CloudflareClient,
    CloudflareRateLimitedError,
)
from domains.models import (
    Domain,
    DomainNotification,
)
from domains.rate_budget import Priority
from domains.schedule import RETRY_MAX_SECONDS, WORK_STATUSES, retry_delay


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
    claimed: int = 0  # by its listings, as their pages showed them (`claim_shown`)
    fetched: int = 0
    changed: int = 0
    errors: int = 0
    progress: Callable[[int], None] | None = None
    emails: list[DomainNotification] = field(default_factory=list)
    changed_ids: list[Any] = field(default_factory=list)  # their emails not yet recorded
    # A listing failed (not for the budget): its cycle's sweep retries the rest later instead
    # of fetching them one by one from a Cloudflare that is failing.
    listing_failed: bool = False
    # While Cloudflare's notifications arrive, a pending domain's next check is no sooner than
    # this (PUSH_BACKSTOP_SECONDS): push reports its certificate's steps, the poller backs up.
    pending_floor: float = 0.0
    # The shared check of active domains comes every this many seconds (`active_interval`).
    active_every: int | None = None

    @property
    def stopped(self) -> bool:
        return self.client.rate_limited

    def advance(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)

    def held(self, ids: Iterable[Any] | None) -> Any:
        """The rows among `ids` (None: all) this cycle still holds (not re-scheduled by anyone
        since)."""
        held = Domain.objects.filter(next_sync_at=self.lease)
        return held if ids is None else held.filter(pk__in=list(ids))

    def held_remote(self, *, ssl_status: str = "") -> Any:
        """The registered domains (of that certificate status, if given) still holding this
        cycle's lease: those a listing may find."""
        held = (
            Domain.objects.filter(next_sync_at=self.lease)
            .exclude(cloudflare_id="")
            .exclude(status__in=WORK_STATUSES)
        )
        return held.filter(ssl_status=ssl_status) if ssl_status else held

    def listable(self, *, ssl_status: str = "") -> Any:
        """The registered domains (of that certificate status, if given) a listing may still
        take: those holding this cycle's lease and those due, which a page showing them claims
        (`schedule.claim_shown`)."""
        listable = (
            Domain.objects.filter(Q(next_sync_at=self.lease) | Q(next_sync_at__lte=self.now))
            .exclude(cloudflare_id="")
            .exclude(status__in=WORK_STATUSES)
        )
        return listable.filter(ssl_status=ssl_status) if ssl_status else listable

    def release(self, ids: Iterable[Any] | None = None) -> None:
        """Give unprocessed domains (None: all still held) back for when the budget reopens
        (nothing marked failed), in one UPDATE."""
        ids = None if ids is None else list(ids)
        if ids is None or ids:
            wait = max(self.client.retry_after, 1.0)
            released = self.held(ids).update(next_sync_at=self.now + timedelta(seconds=wait))
            self.advance(released)

    def retry_later(self, ids: Iterable[Any] | None = None) -> None:
        """A fetch failed (transient or not) for `ids` (None: all still held): keep the
        status, look again after a backoff that doubles with the domain's attempts (one
        UPDATE, a WHEN per doubling)."""
        ids = None if ids is None else list(ids)
        if ids is None or ids:
            cap = RETRY_MAX_SECONDS
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
            retried = self.held(ids).update(next_sync_at=at, sync_attempts=F("sync_attempts") + 1)
            self.errors += retried
            self.advance(retried)


# ---------------------------------------------------------------------------------------------
