"""A batch's work: fetching Cloudflare's answers and applying them in bulk."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q

from domains import notifications
from domains.cloudflare import (
    MAX_PER_PAGE,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflareRateLimitedError,
    CustomHostname,
)
from domains.events import publish, record_events, status_change_event
from domains.models import (
    Domain,
    DomainEvent,
    DomainNotification,
    DomainStatus,
    NotificationKind,
    WebhookEventType,
)
from domains.schedule import WORK_STATUSES, claim_shown, next_delay, next_sync_expression
from domains.services import (
    domain_finish_deletion,
    domain_finish_registration,
    domain_forget_remote,
    remote_fields,
)
from domains.sync.batch import Batch

logger = logging.getLogger("domains.sync")  # one logger for the whole loop


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
    delay = next_delay(
        domain.status,
        attempts,
        now=batch.now,
        cloudflare_status=domain.cloudflare_status,
        pending_floor=batch.pending_floor,
        active_every=batch.active_every,
    )
    if domain.status in WORK_STATUSES and domain.last_error:
        batch.errors += 1
    Domain.objects.filter(pk=domain.pk).update(
        next_sync_at=None if delay is None else batch.now + timedelta(seconds=delay),
        sync_attempts=attempts,
    )
    if domain.status != before:
        batch.changed += 1
        batch.changed_ids.append(domain.pk)
        batch.fetched += 1
    batch.advance(1)


def _reregister(batch: Batch, domain: Domain) -> None:
    """Cloudflare no longer has the hostname: register it again, never keep showing it active."""
    domain = domain_forget_remote(domain)
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


# Set for a day when Cloudflare ignored or refused the `ssl_status` list filter
# (domains/cloudflare/CONTRACT.md §1.1: the 2026 SDKs send it, the published schema lacks it):
# cycles list the whole zone then.
FILTER_UNUSABLE_KEY = "sync:listing:filter-unusable"
FILTER_UNUSABLE_SECONDS = 24 * 3600
# Where the next cycle's listings start when the last one's were cut short by the budget (a
# listing and the page after the last one read): a zone of more pages than one window's bulk
# budget would otherwise be listed from its first page in every window and its tail never
# reached. The next cycle that lists that status takes it (`resume_order`).
LISTING_RESUME_KEY = "sync:listing:resume"
LISTING_RESUME_SECONDS = 24 * 3600
# A listing task that is one of several asks every this many pages whether any domain it could
# take (its cycle's, or due) is still waiting to be seen, and stops when none is.
LEASE_CHECK_PAGES = 20


@dataclass(frozen=True)
class Listing:
    """One task's share of a cycle's listing: pages `first` to `last` (None: to the end) of the
    hostnames whose certificate status is `ssl_status` (empty: every hostname of the zone)."""

    ssl_status: str = ""
    first: int = 1
    last: int | None = None


def filter_usable() -> bool:
    return not cache.get(FILTER_UNUSABLE_KEY)


def _filter_unusable(reason: str) -> None:
    if filter_usable():
        logger.warning("sync: the ssl_status list filter is unusable (%s): listing whole", reason)
    cache.set(FILTER_UNUSABLE_KEY, reason[:200], timeout=FILTER_UNUSABLE_SECONDS)


def sync_by_listing(batch: Batch, *, listing: Listing) -> None:
    """List `listing`'s pages and apply their states to the cycle's claimed domains in them,
    and to every other due domain they show.

    The hostnames the pages show are claimed if due (`claim_shown`) and matched to the rows
    holding the cycle's lease APPLY_CHUNK at a time (one query by Cloudflare id per chunk, the
    partial unique index), and their answers applied together, so the statements grow with
    the chunks written, not the pages read, and memory holds one chunk whatever the zone's
    size: a million due domains cost no map of them, and no write until a page shows them.
    Unchanged domains' next check is written TOUCH_CHUNK at a time (`touch_unchanged`). It
    stops at its last page, at the zone's end, when as many domains as it could take at its
    start (claimed or due) have been seen, or when the budget runs out. What the cycle claimed
    and no listing showed is left on the lease for the cycle's last task (`cycle.sweep`):
    fetched one by one (a hostname that changed status or vanished), released when the budget
    ran out or Cloudflare refused the filter (the next cycle lists the whole zone), retried
    later when Cloudflare failed (`Batch.listing_failed`). Due domains no page showed are
    left as they are, due: the next cycle takes them.
    """
    # How many domains are left to see: counted once a first page came (a task the budget
    # stops at once costs no count), and only as far as this task's pages can show (a task of
    # 100 pages sees 5,000 at most, whatever the zone holds).
    left = batch.listable(ssl_status=listing.ssl_status)
    if listing.last is not None:
        left = left[: (listing.last - listing.first + 1) * MAX_PER_PAGE + 1]
    remaining = -1
    unchanged: list[Any] = []
    shown: dict[str, CustomHostname] = {}  # answers by Cloudflare id, not yet matched
    following = listing.first  # the page after the last one read

    def flush() -> None:
        nonlocal remaining
        if shown:
            batch.claimed += claim_shown(
                now=batch.now, lease=batch.lease, cloudflare_ids=list(shown)
            )
            held = batch.held_remote().filter(cloudflare_id__in=list(shown))
            answers = [(row, shown[row.cloudflare_id]) for row in held]
            shown.clear()
            remaining -= len(answers)
            apply_answers(batch, answers, unchanged=unchanged)
        if len(unchanged) >= TOUCH_CHUNK:
            touch_unchanged(batch, unchanged)
            unchanged.clear()

    pages = batch.client.iter_pages(
        ssl_status=listing.ssl_status or None,
        per_page=MAX_PER_PAGE,
        priority="listing",
        first_page=listing.first,
    )
    ignored = False
    try:
        for page in pages:
            if (
                listing.ssl_status
                and not ignored
                and any(i.ssl_status != listing.ssl_status for i in page.items)
            ):
                # Cloudflare ignored the filter: this page is applied all the same (it shows
                # current states), later cycles list the whole zone instead.
                ignored = True
                _filter_unusable(f"a page filtered on {listing.ssl_status} showed other statuses")
            if remaining < 0:
                remaining = left.count()
            shown.update((item.id, item) for item in page.items)
            # A chunk at a time; or sooner when what is shown may hold every claimed domain
            # left, to stop at the page that shows the last of them.
            if len(shown) >= min(APPLY_CHUNK, remaining):
                flush()
            following = page.page + 1
            read = page.page - listing.first + 1
            if (
                batch.stopped
                or remaining <= 0
                or (listing.last is not None and page.page >= listing.last)
                or (
                    read % LEASE_CHECK_PAGES == 0
                    and not batch.listable(ssl_status=listing.ssl_status).exists()
                )
            ):
                break
        flush()
    except CloudflareRateLimitedError:
        pass  # the rest is released by the cycle's sweep
    except CloudflareError as error:
        if listing.ssl_status and error.status == 400:
            _filter_unusable(str(error))  # refused: the sweep releases this listing's domains
        else:
            logger.warning("sync: listing the zone failed: %s", error)
            batch.listing_failed = True
    finally:
        flush()  # pages read before the listing stopped are applied all the same
        touch_unchanged(batch, unchanged)
        if batch.stopped:
            # The first of the cycle's tasks to stop says where the next cycle starts (its
            # later tasks stop at their first page: they would point past the gap).
            resume = {"ssl_status": listing.ssl_status, "page": following}
            cache.add(LISTING_RESUME_KEY, resume, timeout=LISTING_RESUME_SECONDS)


def resume_order(listings: list[Listing]) -> list[Listing]:
    """`listings` in the order to run them: from where the last cut-short listing stopped
    (`LISTING_RESUME_KEY`, taken when one of `listings` holds that page: this cycle's first
    task to stop sets it again), the task it stopped in split there, its head run last."""
    resume = cache.get(LISTING_RESUME_KEY)
    if not isinstance(resume, dict):
        return listings
    ssl_status, page = resume.get("ssl_status"), int(resume.get("page") or 1)
    for index, listing in enumerate(listings):
        last = listing.last if listing.last is not None else page
        if listing.ssl_status == ssl_status and listing.first <= page <= last:
            head = (
                [Listing(ssl_status=ssl_status, first=listing.first, last=page - 1)]
                if page > listing.first
                else []
            )
            tail = Listing(ssl_status=ssl_status, first=page, last=listing.last)
            cache.delete(LISTING_RESUME_KEY)
            return [tail, *listings[index + 1 :], *listings[:index], *head]
    return listings


# ---------------------------------------------------------------------------------------------
# Applying Cloudflare's answers in bulk
# ---------------------------------------------------------------------------------------------
def _refresh_moved(
    batch: Batch, answers: list[tuple[Domain, CustomHostname]]
) -> tuple[list[tuple[Domain, CustomHostname]], set[Any]]:
    """Ask Cloudflare once to re-validate each newly `moved` hostname; handle vanished ones.
    Returns the answers to apply, and the primary keys of the domains refreshed."""
    kept: list[tuple[Domain, CustomHostname]] = []
    refreshed: set[Any] = set()
    for domain, remote in answers:
        if remote.is_gone and domain.status != DomainStatus.DELETING:
            # Deleted (or being deleted) at Cloudflare without our asking: register it again.
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
            refreshed.add(domain.pk)
        kept.append((domain, remote))
    return kept, refreshed


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
    answers, refreshed = _refresh_moved(batch, answers)
    if not answers:
        return
    now = batch.now
    batch.fetched += len(answers)
    changed: list[tuple[Domain, dict[str, Any]]] = []  # (domain, the columns to write)
    same: list[Any] = []
    events: list[DomainEvent] = []
    expiring: list[Domain] = []
    warn_before = now + timedelta(days=int(settings.SYNC_CERT_EXPIRY_WARNING_DAYS))
    for domain, remote in answers:
        fields = remote_fields(domain, remote, now)
        if domain.pk in refreshed and fields["status"] != DomainStatus.ACTIVE:
            fields["moved_refresh_at"] = now
        expires = fields["certificate_expires_at"]
        if (
            fields["status"] == DomainStatus.ACTIVE
            and expires is not None
            and expires < warn_before
        ):
            expiring.append(domain)
        diff = {name: value for name, value in fields.items() if getattr(domain, name) != value}
        if not diff:
            same.append(domain.pk)
            continue
        before = (domain.status, domain.cloudflare_status, domain.ssl_status)
        after = (fields["status"], remote.status, remote.ssl_status)
        for name, value in diff.items():
            setattr(domain, name, value)
        if after[0] != before[0]:
            domain.sync_attempts = diff["sync_attempts"] = 0
        else:
            domain.sync_attempts += 1
            diff["sync_attempts"] = F("sync_attempts") + 1
        delay = next_delay(
            domain.status,
            domain.sync_attempts,
            now=now,
            cloudflare_status=remote.status,
            pending_floor=batch.pending_floor,
            active_every=batch.active_every,
        )
        domain.next_sync_at = None if delay is None else now + timedelta(seconds=delay)
        domain.last_synced_at = domain.updated_at = now
        diff.update(next_sync_at=domain.next_sync_at, last_synced_at=now, updated_at=now)
        changed.append((domain, diff))
        if after != before:
            events.append(
                status_change_event(
                    domain, before=before, to_status=domain.status, remote=remote, by="sync"
                )
            )
    if changed:
        with transaction.atomic():
            # Only rows this cycle still holds: a deletion or a Check now since the claim wins
            # (select_for_update keeps them from changing until we commit, on PostgreSQL; on
            # SQLite the IMMEDIATE transaction already holds the write lock).
            held = set(
                batch.held(d.pk for d, _ in changed)
                .select_for_update()
                .values_list("pk", flat=True)
            )
            changed = [(d, diff) for d, diff in changed if d.pk in held]
            events = [e for e in events if e.domain_id in held]
            write_changes(changed)
            record_events(events)
        batch.changed += len(changed)
        batch.changed_ids.extend(d.pk for d, _ in changed)
    # Status emails are derived from the events just written (see `_finish`); expiry has no
    # event, so it is recorded here, once per certificate.
    _queue_expiry_notifications(batch, expiring)
    if unchanged is not None:
        unchanged.extend(same)
    else:
        touch_unchanged(batch, same)
    batch.advance(len(answers))


# Columns whose new value is the row's own (its hostname's records, its certificate): written
# with one `bulk_update` per set of them. Every other column's new value is shared by many rows.
PER_ROW_FIELDS = frozenset({"dns_records", "certificate_expires_at", "cloudflare_id"})


def write_changes(changes: list[tuple[Domain, dict[str, Any]]]) -> None:
    """Write each domain's changed columns: one UPDATE per distinct set of shared values (a
    page's transitions mostly share one: pending to active, the same next check), and one
    `bulk_update` per distinct set of per-row columns. The statements grow with the kinds of
    change, not with the domains; and no statement carries a CASE over every row for columns
    whose value all of them share."""
    shared: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    own: dict[frozenset[str], list[Domain]] = defaultdict(list)
    for domain, diff in changes:
        common = {name: value for name, value in diff.items() if name not in PER_ROW_FIELDS}
        key = json.dumps(common, sort_keys=True, default=str)
        shared.setdefault(key, (common, []))[1].append(domain.pk)
        names = frozenset(diff.keys() & PER_ROW_FIELDS)
        if names:
            own[names].append(domain)
    for values, pks in shared.values():
        for start in range(0, len(pks), TOUCH_CHUNK):
            Domain.objects.filter(pk__in=pks[start : start + TOUCH_CHUNK]).update(**values)
    for names, domains in own.items():
        Domain.objects.bulk_update(domains, sorted(names))


TOUCH_CHUNK = 5000
# Listed answers applied together (`sync_by_listing`): 20 pages of 50.
APPLY_CHUNK = 1000


def touch_unchanged(batch: Batch, pks: list[Any]) -> None:
    """The only write an unchanged domain needs: its next check. One statement per 5,000
    domains (a bound on the statement's parameters), whatever the number of pages."""
    for start in range(0, len(pks), TOUCH_CHUNK):
        batch.held(pks[start : start + TOUCH_CHUNK]).filter(
            Q(status__in=[DomainStatus.ACTIVE, DomainStatus.FAILED, DomainStatus.PENDING])
        ).update(
            next_sync_at=next_sync_expression(
                batch.now, pending_floor=batch.pending_floor, active_every=batch.active_every
            ),
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
        with transaction.atomic():
            notification = notifications.record(
                domain=domain, kind=NotificationKind.EXPIRING, key=key
            )
            if notification is not None:
                # Once per certificate, like the email: the same row decides both.
                publish([(WebhookEventType.DOMAIN_CERTIFICATE_EXPIRING, domain, batch.now, {})])
        if notification is not None:
            batch.emails.append(notification)


def send_emails(batch: Batch) -> None:
    emails, batch.emails = batch.emails, []
    # The transitions this batch applied (their events); those of Check now, registrations
    # and push wait for the cycle's own look at the day's events (`send_transition_emails`).
    changed, batch.changed_ids = batch.changed_ids, []
    if changed:
        emails += notifications.record_transitions(now=batch.now, domain_ids=changed)
    notifications.send_many(emails)
