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

Inside: `schedule` (when each domain is checked next, and claiming), `batch` (a batch's client
and bookkeeping), `apply` (fetching and applying answers in bulk) and `cycle` (planning and
running cycles). Import from the package, not the modules.
"""

from domains.sync.apply import REMOTE_FIELDS, WRITTEN_FIELDS, apply_answers, touch_unchanged
from domains.sync.cycle import (
    Plan,
    plan_cycle,
    run_batch,
    run_cycle,
    run_zone,
    schedule_cycle,
    send_transition_emails,
    sync_one,
)
from domains.sync.schedule import (
    WORK_STATUSES,
    claim_due,
    claim_one,
    last_run,
    next_delay,
    pending_delay,
    retry_delay,
    sync_lag,
)

__all__ = [
    "REMOTE_FIELDS",
    "WORK_STATUSES",
    "WRITTEN_FIELDS",
    "Plan",
    "apply_answers",
    "claim_due",
    "claim_one",
    "last_run",
    "next_delay",
    "pending_delay",
    "plan_cycle",
    "retry_delay",
    "run_batch",
    "run_cycle",
    "run_zone",
    "schedule_cycle",
    "send_transition_emails",
    "sync_lag",
    "sync_one",
    "touch_unchanged",
]
