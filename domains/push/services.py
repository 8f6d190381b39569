"""Recording Cloudflare's notifications and acting on them (see the package docstring)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from domains.cloudflare import (
    CloudflareClient,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflareRateLimitedError,
)
from domains.kick import kick
from domains.models import CloudflareHint, Domain, DomainStatus, HintOutcome
from domains.push.receiver import Notice
from domains.rate_budget import budget
from domains.schedule import push_reschedule
from domains.services import domain_apply_remote

logger = logging.getLogger("domains.push")

# Hints read per run; the next run (kicked at once) takes the rest.
HINTS_PER_RUN = 1000
# A burst naming more domains than this is handed to the sync loop (one listing call per 50
# domains) instead of one GET each.
PUSH_MAX_GETS = 20
# Hints are acted on this long after one arrives, so notifications arriving together (a step
# Cloudflare sent twice, steps of one hostname in the same second) cost one GET.
PUSH_COALESCE_SECONDS = 1.0
# While the window has spent less than this share of the sync loop's (bulk) allowance, every
# notification is acted on at once: one GET per certificate step, so the page shows each step as
# it happens and Active seconds after Cloudflare's last step. Past it, a step another soon
# follows waits PUSH_SETTLE_SECONDS, so one GET usually covers a whole activation.
EAGER_SHARE = 0.5


def acting_at_once() -> bool:
    """Whether the budget has room to act on every notification at once (`EAGER_SHARE`)."""
    return budget.share_used("bulk") < EAGER_SHARE


def hint_record(notice: Notice) -> CloudflareHint | None:
    """Keep the notice as a hint to act on (None: a duplicate, already kept). One for another
    zone, or naming no hostname, is kept as ignored, for staff to see."""
    outcome, detail = HintOutcome.WAITING, ""
    if notice.zone_id and notice.zone_id != settings.CLOUDFLARE_ZONE_ID:
        outcome, detail = HintOutcome.IGNORED, f"for another zone ({notice.zone_id})"
    elif not (notice.hostname_id or notice.hostname):
        outcome, detail = HintOutcome.IGNORED, "names no custom hostname"
    try:
        with transaction.atomic():
            hint = CloudflareHint.objects.create(
                event_id=notice.event_id,
                event_type=notice.event_type,
                hostname_id=notice.hostname_id,
                hostname=notice.hostname,
                outcome=outcome,
                detail=detail,
                processed_at=None if outcome == HintOutcome.WAITING else timezone.now(),
            )
    except IntegrityError:
        return None  # the same event again: Cloudflare delivers at least once
    if outcome == HintOutcome.IGNORED:
        logger.info("push: ignored %s (%s)", notice.event_id, detail)
    else:
        kick_hints(settle=is_passing(notice.event_type) and not acting_at_once())
    return hint


# Certificate steps the next one follows within seconds to minutes (domains/cloudflare/CONTRACT.md
# §11.3): their hints wait PUSH_SETTLE_SECONDS, so the GET made for them usually sees the step after
# too.
PASSING_EVENTS = ("validation.succeeded", "issuance.succeeded", "renewal.succeeded")


def is_passing(event_type: str) -> bool:
    return event_type.endswith(tuple("." + suffix for suffix in PASSING_EVENTS))


def kick_hints(*, settle: bool = False) -> None:
    """Have a worker act on the hints in a moment (PUSH_COALESCE_SECONDS: hints waiting together
    cost one GET), or once a step's successor is likely in (`settle`: PUSH_SETTLE_SECONDS)."""
    wait = settings.PUSH_SETTLE_SECONDS if settle else PUSH_COALESCE_SECONDS
    kick("domains.process_hints", countdown=float(wait))


def ready_hints(now: datetime, *, settle: bool = True) -> QuerySet[CloudflareHint]:
    """Waiting hints due for action: all of them, or (`settle`) all but passing steps younger
    than PUSH_SETTLE_SECONDS (less a second, for clocks that differ between processes)."""
    waiting = CloudflareHint.objects.filter(outcome=HintOutcome.WAITING)
    if not settle:
        return waiting
    passing = Q()
    for suffix in PASSING_EVENTS:
        passing |= Q(event_type__endswith="." + suffix)
    settled = now - timedelta(seconds=max(0.0, float(settings.PUSH_SETTLE_SECONDS) - 1))
    return waiting.filter(~passing | Q(received_at__lte=settled))


@dataclass
class HintReport:
    fetched: int = 0  # Cloudflare calls made (GETs, retries included)
    applied: int = 0  # domains brought up to date
    coalesced: int = 0  # hints that needed no call of their own
    handed_over: int = 0  # domains given to the sync loop (a burst)
    unknown: int = 0
    failed: int = 0
    remaining: int = 0


def hints_process(
    *, client: CloudflareClient | None = None, limit: int = HINTS_PER_RUN
) -> HintReport:
    """Act on the waiting hints: one GET per hinted domain, applied like any answer; a burst of
    more than PUSH_MAX_GETS domains is handed to the sync loop instead (due now), whose listing
    costs one call per 50 domains. Never raises for Cloudflare trouble."""
    client = client or CloudflareClient()
    report = HintReport()
    now = timezone.now()
    settle = not acting_at_once()
    hints = list(ready_hints(now, settle=settle).order_by("received_at")[:limit])
    ids = {h.hostname_id for h in hints if h.hostname_id}
    names = {h.hostname for h in hints if h.hostname}
    # Two lookups, each on its own index (an OR of the two reads the whole table on SQLite;
    # the Cloudflare id's index holds registered domains only, hence the exclude).
    domains = list(Domain.objects.filter(cloudflare_id__in=ids).exclude(cloudflare_id=""))
    found = {d.hostname for d in domains}
    domains += Domain.objects.filter(hostname__in=names - found)
    by_id = {d.cloudflare_id: d for d in domains if d.cloudflare_id}
    by_name = {d.hostname: d for d in domains}
    grouped: dict[Domain, list[CloudflareHint]] = defaultdict(list)
    unknown = []
    for hint in hints:
        domain = by_id.get(hint.hostname_id) or by_name.get(hint.hostname)
        if domain is None:
            unknown.append(hint.pk)
        else:
            grouped[domain].append(hint)
    if unknown:
        _finish(unknown, HintOutcome.UNKNOWN, "no domain here has this hostname")
        report.unknown = len(unknown)
        logger.info("push: %d hint(s) for hostnames we do not have", len(unknown))
    if len(grouped) > PUSH_MAX_GETS:
        Domain.objects.filter(pk__in=[d.pk for d in grouped]).exclude(
            status=DomainStatus.DELETING
        ).update(next_sync_at=now)
        _finish(
            [h.pk for group in grouped.values() for h in group],
            HintOutcome.POLLED,
            f"a burst of {len(grouped)} domains: the sync loop lists them",
        )
        report.handed_over = len(grouped)
        kick("domains.schedule_sync")
        return report
    calls_before = client.calls
    for domain, group in grouped.items():
        asked_at = timezone.now()
        try:
            remote = client.get(domain.cloudflare_id, priority="bulk")
        except CloudflareRateLimitedError:
            break  # the hints wait for the next run
        except CloudflareNotFoundError:
            # Gone at Cloudflare: the sync loop registers it again (or finishes its removal).
            Domain.objects.filter(pk=domain.pk).update(next_sync_at=now)
            _finish([h.pk for h in group], HintOutcome.POLLED, "not found: the sync loop checks")
            continue
        except CloudflareError as error:
            Domain.objects.filter(pk=domain.pk).update(next_sync_at=now)
            _finish([h.pk for h in group], HintOutcome.FAILED, str(error))
            report.failed += 1
            continue
        domain = domain_apply_remote(domain=domain, remote=remote)
        push_reschedule(domain, timezone.now())
        _finish([group[0].pk], HintOutcome.APPLIED, f"{remote.status} / {remote.ssl_status}")
        # Every hint for this hostname received before we asked is answered by that GET: the
        # rest of this run's, and ones that arrived while it went on.
        covered = CloudflareHint.objects.filter(outcome=HintOutcome.WAITING).filter(
            Q(pk__in=[h.pk for h in group[1:]])
            | (
                Q(received_at__lt=asked_at)
                & (Q(hostname_id=domain.cloudflare_id) | Q(hostname=domain.hostname))
            )
        )
        report.coalesced += covered.update(
            outcome=HintOutcome.COALESCED, processed_at=timezone.now()
        )
        report.applied += 1
    report.fetched = client.calls - calls_before  # HTTP attempts, retries included
    report.remaining = ready_hints(timezone.now(), settle=settle).count()
    return report


def _finish(hint_ids: list[int], outcome: str, detail: str) -> None:
    CloudflareHint.objects.filter(pk__in=hint_ids, outcome=HintOutcome.WAITING).update(
        outcome=outcome, detail=detail[:1000], processed_at=timezone.now()
    )
