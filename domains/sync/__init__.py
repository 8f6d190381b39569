"""The sync loop: keep every domain's status equal to Cloudflare's, with few calls and few queries.

One cycle (`schedule_cycle`, run every 30 s by beat through `domains.schedule_sync`):

1. **Claim** the due domains (`next_sync_at <= now`) with one conditional UPDATE that moves their
   `next_sync_at` to a lease: a timestamp unique to this cycle (`SyncRun.lease_until`), which is
   also the claim token. A concurrent cycle's UPDATE re-checks `next_sync_at <= now` on each row
   it writes (PostgreSQL re-evaluates the condition after waiting for the row lock; SQLite runs
   one writer at a time), so no domain is claimed twice. A worker that dies leaves its domains
   on the lease, which expires into the past: the first cycle after it claims them again.
2. **Choose how to fetch** (`choose_listings`): one GET per claimed domain costs N calls;
   listing the whole zone costs ceil(zone size / 50); listing only the certificate statuses
   most claimed domains are in (Cloudflare's `ssl_status` filter) costs ceil(status count / 50)
   each, plus a GET for every other claimed domain. The zone holds only our hostnames, so our
   own rows count it. The cheapest wins; a listing also claims every other due domain it will
   show. A Cloudflare that ignores or refuses the filter is noticed and the whole zone listed
   for a day instead.
3. **Fan out** to workers, enqueued on commit: `sync_batch` with ids, and `sync_zone` per
   SYNC_LISTING_PAGES_PER_TASK pages of each listing, so a long listing runs on several
   workers side by side. Each applies Cloudflare's answers in bulk: one UPDATE per distinct
   set of new values of the changed rows plus a `bulk_update` of their own columns (records,
   certificate expiry), one `bulk_create` of their events, and one UPDATE that moves the
   unchanged rows' next check (a CASE on their attempt count), so queries grow with pages and
   kinds of change, not with domains. The cycle's last task to finish sweeps up: what no
   listing showed (a status that moved out of a listed one, a vanished hostname) is fetched
   one by one. Registering/deleting leftovers and `moved` refreshes are per-domain work.
4. **Stop cleanly** when the shared rate budget (spent at `priority="bulk"`) runs out or
   Cloudflare says 429: the unprocessed domains are released to the time the budget reopens,
   nothing is marked failed for it, and the next cycle's listings start where this one's
   stopped. A listing Cloudflare fails leaves its domains to be retried after a backoff.

Every step is safe to run twice: batches only touch domains still holding their cycle's lease,
events are recorded only for real changes, and each email is recorded before it is sent.

Inside: `schedule` (when each domain is checked next, and claiming), `batch` (a batch's client
and bookkeeping), `apply` (fetching and applying answers in bulk) and `cycle` (planning and
running cycles). Import from the package, not the modules.
"""

from domains.schedule import (
    WORK_STATUSES,
    active_interval,
    claim_due,
    claim_one,
    last_run,
    next_delay,
    pending_delay,
    retry_delay,
    sync_lag,
)
from domains.sync.apply import Listing, apply_answers, touch_unchanged
from domains.sync.cycle import (
    Plan,
    choose_listings,
    count_zone,
    page_ranges,
    plan_cycle,
    run_batch,
    run_cycle,
    run_zone,
    schedule_cycle,
    send_transition_emails,
    sweep,
    sync_one,
)

__all__ = [
    "WORK_STATUSES",
    "Listing",
    "Plan",
    "active_interval",
    "apply_answers",
    "choose_listings",
    "count_zone",
    "claim_due",
    "claim_one",
    "last_run",
    "next_delay",
    "page_ranges",
    "pending_delay",
    "plan_cycle",
    "retry_delay",
    "run_batch",
    "run_cycle",
    "run_zone",
    "schedule_cycle",
    "send_transition_emails",
    "sync_lag",
    "sweep",
    "sync_one",
    "touch_unchanged",
]
