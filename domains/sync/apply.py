"""A batch's work: fetching Cloudflare's answers and applying them in bulk."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q

from domains import notifications
from domains.cloudflare import (
    MAX_PER_PAGE,
    CloudflareClient,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflareRateLimitedError,
    CustomHostname,
    HostnamePage,
)
from domains.models import (
    Domain,
    DomainEvent,
    DomainNotification,
    DomainStatus,
    NotificationKind,
    WebhookEventType,
)
from domains.services import (
    domain_finish_deletion,
    domain_finish_registration,
    domain_forget_remote,
    remote_fields,
    status_change_event,
)
from domains.sync.batch import Batch
from domains.sync.schedule import WORK_STATUSES, next_delay, next_sync_expression
from domains.webhooks.outbox import publish, record_events

logger = logging.getLogger("domains.sync")  # one logger for the whole loop


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
    "origin_applied",
)
WRITTEN_FIELDS = (*REMOTE_FIELDS, "next_sync_at", "sync_attempts", "last_synced_at", "updated_at")


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


# Where the next listing starts when the last one ran out of budget before the zone's end. A
# zone of more pages than one window's bulk budget would otherwise be listed from page 1 in
# every window and never reach its tail.
LISTING_RESUME_KEY = "sync:listing:resume-page"
LISTING_RESUME_SECONDS = 24 * 3600


def _zone_pages(client: CloudflareClient, start: int) -> Iterator[HostnamePage]:
    """Every page of the zone once: from `start` to the end, then from page 1 up to `start`."""
    yield from client.iter_pages(per_page=MAX_PER_PAGE, priority="bulk", first_page=start)
    if start > 1:
        for page in client.iter_pages(per_page=MAX_PER_PAGE, priority="bulk"):
            if page.page >= start:
                return
            yield page


def sync_by_listing(batch: Batch, *, wanted: dict[str, Any]) -> None:
    """Page through the zone and apply the pages' states to the claimed domains in them.

    `wanted` maps Cloudflare id to the claimed domain's primary key (loaded once, ids only), so
    a page of hostnames nobody claimed costs no query; the rows of the claimed ones are read
    APPLY_CHUNK at a time, and their answers applied together, so the statements a cycle costs
    grow with the chunks it writes, not with the pages it reads, and memory holds one chunk,
    never the zone. Unchanged domains' next check is written once at the end
    (`touch_unchanged`). Ids the listing never showed are fetched one by one afterwards
    (usually a 404: the hostname vanished). A listing the budget stops is resumed where it
    stopped by the next one (`LISTING_RESUME_KEY`), which wraps around to page 1.
    """
    wanted = dict(wanted)
    unchanged: list[Any] = []
    seen: list[tuple[Any, CustomHostname]] = []  # (domain pk, its answer), not yet applied
    resume = int(cache.get(LISTING_RESUME_KEY) or 1)
    following = resume  # the page after the last one applied

    def flush() -> None:
        if seen:
            rows = Domain.objects.in_bulk([pk for pk, _ in seen])
            answers = [(rows[pk], item) for pk, item in seen if pk in rows]
            seen.clear()
            apply_answers(batch, answers, unchanged=unchanged)

    try:
        for page in _zone_pages(batch.client, resume):
            seen.extend((wanted.pop(item.id), item) for item in page.items if item.id in wanted)
            if len(seen) >= APPLY_CHUNK:
                flush()
            following = page.page + 1
            if batch.stopped or not wanted:
                break  # out of budget, or every claimed domain seen: the rest costs calls
        flush()
    except CloudflareRateLimitedError:
        cache.set(LISTING_RESUME_KEY, following, timeout=LISTING_RESUME_SECONDS)
        batch.release(wanted.values())
        return
    except CloudflareError as error:
        logger.warning("sync: listing the zone failed: %s", error)
        batch.retry_later(wanted.values())
        return
    finally:
        flush()  # pages read before the listing stopped are applied all the same
        touch_unchanged(batch, unchanged)
    if batch.stopped:
        cache.set(LISTING_RESUME_KEY, following, timeout=LISTING_RESUME_SECONDS)
        batch.release(wanted.values())
        return
    cache.delete(LISTING_RESUME_KEY)  # every claimed domain was looked for in the zone
    if wanted:
        leftovers = list(wanted.values())
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
                batch.held(d.pk for d in changed).select_for_update().values_list("pk", flat=True)
            )
            changed = [d for d in changed if d.pk in held]
            events = [e for e in events if e.domain_id in held]
            Domain.objects.bulk_update(changed, WRITTEN_FIELDS)
            record_events(events)
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
# Listed answers applied together (`sync_by_listing`): 20 pages of 50.
APPLY_CHUNK = 1000


def touch_unchanged(batch: Batch, pks: list[Any]) -> None:
    """The only write an unchanged domain needs: its next check. One statement per 5,000
    domains (a bound on the statement's parameters), whatever the number of pages."""
    for start in range(0, len(pks), TOUCH_CHUNK):
        batch.held(pks[start : start + TOUCH_CHUNK]).filter(
            Q(status__in=[DomainStatus.ACTIVE, DomainStatus.FAILED, DomainStatus.PENDING])
        ).update(
            next_sync_at=next_sync_expression(batch.now),
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
                publish([(WebhookEventType.DOMAIN_CERTIFICATE_EXPIRING, domain, batch.now)])
        if notification is not None:
            batch.outbox.append(notification)


def send_outbox(batch: Batch) -> None:
    outbox, batch.outbox = batch.outbox, []
    # Transitions applied by this batch, by Check now or by a registration: all are events.
    outbox += notifications.record_transitions(now=batch.now)
    notifications.send_many(outbox)
