"""Celery tasks of the sync loop: thin wrappers around `domains.sync`, taking ids.

Names are explicit and stable (beat's table and queued messages refer to them). Every task is
idempotent: a batch only touches domains still holding its cycle's lease, so a redelivered
message (acks_late) finds its finished domains re-scheduled and skips them. Cloudflare trouble
never raises out of a task (the sync engine records it and retries on a later cycle); only a
database hiccup does, and that is retried with jittered, capped backoff.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from domains import closing, records, services, sync
from domains.handoffs import emails as handoff_emails
from domains.models import Domain
from domains.origins import services as origins
from domains.push import services as push
from domains.webhooks import delivery

# Lost connection, "database is locked", a failover: worth another try a little later (5 s,
# doubling, jittered, capped at 2 minutes, at most 5 times; the next cycle covers the rest).
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
# What every task here shares: late acks (a worker that dies leaves the message for another)
# and retries of database hiccups only.
RETRY_DATABASE_ERRORS: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": TRANSIENT_DATABASE_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="domains.schedule_sync", **RETRY_DATABASE_ERRORS)
def schedule_sync() -> int:
    """Claim the due domains and enqueue their batches; returns the SyncRun id.

    Safe to run concurrently with itself (each domain is claimed by one cycle only) and to
    retry (a retry claims whatever is due then; nothing is claimed twice). Also emails owners
    about transitions made outside the loop (Check now, a registration).
    """
    return int(sync.schedule_cycle(enqueue=_enqueue).pk)


def _enqueue(plan: sync.Plan) -> None:
    """Fan a cycle out: a task per share of each listing, then a task per batch of GETs."""
    run = plan.run
    lease = run.lease_until.isoformat() if run.lease_until else ""
    for listing in plan.listings:
        sync_zone.delay(
            run_id=run.pk,
            lease=lease,
            ssl_status=listing.ssl_status,
            first=listing.first,
            last=listing.last,
        )
    for ids in plan.batches:
        sync_batch.delay([str(pk) for pk in ids], run_id=run.pk, lease=lease)


@shared_task(name="domains.sync_batch", **RETRY_DATABASE_ERRORS)
def sync_batch(domain_ids: list[str], run_id: int | None = None, lease: str = "") -> int:
    """Sync these domains (one GET each, or their pending registration/deletion).

    Returns how many changed. Only domains still holding `lease` are touched, so a retry or a
    redelivery never processes a domain twice; a domain deleted meanwhile is simply absent.
    """
    batch = sync.run_batch(domain_ids, run_id=run_id, lease=datetime.fromisoformat(lease))
    return batch.changed


@shared_task(
    name="domains.sync_zone",
    **RETRY_DATABASE_ERRORS,
    # Listing a large zone takes a while (about 0.3 s a page): its own, longer limits.
    soft_time_limit=settings.SYNC_ZONE_TIME_LIMIT - 30,
    time_limit=settings.SYNC_ZONE_TIME_LIMIT,
)
def sync_zone(
    run_id: int | None = None,
    lease: str = "",
    ssl_status: str = "",
    first: int = 1,
    last: int | None = None,
) -> int:
    """Sync the cycle's registered domains from its share of a listing (50 a page): pages
    `first` to `last` (None: to the end) of the hostnames in `ssl_status` (empty: all).

    Returns how many changed. Idempotent like `sync_batch` (works on the lease's domains).
    """
    listing = sync.Listing(ssl_status=ssl_status, first=first, last=last)
    batch = sync.run_zone(run_id=run_id, lease=datetime.fromisoformat(lease), listing=listing)
    return batch.changed


@shared_task(name="domains.deliver_webhooks", **RETRY_DATABASE_ERRORS)
def deliver_webhooks() -> int:
    """Enqueue one delivery task per endpoint with a delivery due; returns how many.

    Run by beat every 10 s and kicked after each commit that records messages. Safe to run
    concurrently and twice: each endpoint's task claims its deliveries with a lease.
    """
    endpoints = delivery.due_endpoints()
    for endpoint_id in endpoints:
        deliver_endpoint.delay(endpoint_id)
    return len(endpoints)


@shared_task(
    name="domains.deliver_endpoint",
    **RETRY_DATABASE_ERRORS,
    # A batch of attempts of WEBHOOK_TIMEOUT_SECONDS each at most (its claims are renewed as it
    # goes, so the limit is the batch's, not the lease's).
    soft_time_limit=delivery.BATCH * int(settings.WEBHOOK_TIMEOUT_SECONDS) + 60,
    time_limit=delivery.BATCH * int(settings.WEBHOOK_TIMEOUT_SECONDS) + 120,
)
def deliver_endpoint(endpoint_id: str) -> int:
    """Attempt one endpoint's due deliveries; returns how many were attempted. Returns 0 for
    an endpoint that is gone or disabled."""
    return delivery.deliver_endpoint(endpoint_id)


@shared_task(name="domains.sync_origins", **RETRY_DATABASE_ERRORS)
def sync_origins() -> int:
    """Bring Cloudflare in line with the origins: records first, then up to a batch of
    hostnames, then removals. Kicked after each change and run every minute; runs again at once
    while hostnames remain and the budget allows. Returns how many hostnames remain."""
    report = origins.origins_sync()
    if report.remaining and report.hostnames_patched and not report.errors:
        sync_origins.delay()
    return report.remaining


@shared_task(name="domains.process_hints", **RETRY_DATABASE_ERRORS)
def process_hints() -> int:
    """Act on Cloudflare's notifications (one GET per hinted domain, or a burst handed to the
    sync loop). Kicked by each notification, run every minute; runs again while hints wait and
    the budget allows. Returns how many wait."""
    report = push.hints_process()
    if report.remaining and (report.applied or report.handed_over):
        process_hints.delay()
    return report.remaining


@shared_task(name="domains.sweep_origin_records", **RETRY_DATABASE_ERRORS)
def sweep_origin_records() -> int:
    """Daily: remove origin records whose origin is gone (an organization deleted)."""
    return origins.origins_sweep()


@shared_task(name="domains.detect_dns_host", **RETRY_DATABASE_ERRORS)
def detect_dns_host(domain_id: str) -> str:
    """Find where a domain's DNS is hosted (kicked when it is added and at Check now), then
    check its records in that host's words."""
    detection = services.domain_detect_dns_host(domain_id)
    if detection is not None:
        records.domain_check_records(detection.domain)
    return detection.host if detection is not None else ""


# Domains handed to workers per beat: at DNS_TIMEOUT a domain at worst, far under a minute's
# worth for two workers even when every DNS host times out.
RECHECK_BATCH = 200


@shared_task(name="domains.check_dns_records", **RETRY_DATABASE_ERRORS)
def check_dns_records(domain_id: str) -> bool:
    """Check a domain's DNS records and keep what was found (idempotent)."""
    domain = Domain.objects.filter(pk=domain_id).first()
    return domain is not None and records.domain_check_records(domain) is not None


@shared_task(name="domains.recheck_dns_records", **RETRY_DATABASE_ERRORS)
def recheck_dns_records() -> int:
    """Hand the waiting domains whose records are due a check to workers (claimed first)."""
    due = records.due_for_recheck(RECHECK_BATCH)
    for domain_id in due:
        check_dns_records.delay(domain_id)
    return len(due)


@shared_task(name="domains.send_handoff_emails", **RETRY_DATABASE_ERRORS)
def send_handoff_emails() -> int:
    """Send the hand-off emails that are due (kicked when a link is emailed; beat for the
    reminders and retries)."""
    return handoff_emails.send_due_emails()


@shared_task(name="domains.finish_organization_deletions", **RETRY_DATABASE_ERRORS)
def finish_organization_deletions() -> int:
    """Cancel deleted organizations' subscriptions and delete their rows once nothing of theirs
    is left at Cloudflare (every minute; kicked by a deletion). Returns how many went."""
    return closing.organizations_finish_deleting()
