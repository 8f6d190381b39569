"""Emails to an organization's owners about its domains: active, needs attention, moved, expiring.

Exactly one email per real transition. A status transition is a `DomainEvent` (whoever applied
it: the sync loop, Check now, a registration), so the email's transition key is the event's id;
a certificate warning's key is the certificate's expiry date. The `DomainNotification` row is
inserted before the email is sent, under a unique (domain, kind, key) constraint: a retried
task, a re-run cycle or two workers racing all find the row taken and send nothing. The cost is
at-most-once: a process that dies between the insert and the send loses that one email, which
staff see in admin as a notification without `sent_at`.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, OuterRef
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Role, User
from domains.cloudflare import cname_target
from domains.explain import explain
from domains.models import (
    Domain,
    DomainEvent,
    DomainEventKind,
    DomainNotification,
    DomainStatus,
    NotificationKind,
)

logger = logging.getLogger(__name__)

# Transitions older than this are never emailed: the first cycle after a deployment must not
# mail owners about last month's changes, and a day covers any outage of the loop.
TRANSITION_LOOKBACK = timedelta(hours=24)


def record(*, domain: Domain, kind: str, key: str) -> DomainNotification | None:
    """Record that `kind` is owed for `domain`'s transition `key`; None if already recorded.

    Safe inside an outer transaction (a savepoint absorbs the unique-constraint conflict).
    """
    try:
        with transaction.atomic():
            return DomainNotification.objects.create(domain=domain, kind=kind, key=key)
    except IntegrityError:
        return None


def _kind_for(event: DomainEvent) -> str:
    if event.to_status == DomainStatus.ACTIVE:
        return NotificationKind.ACTIVE
    hostname_status = (event.data or {}).get("hostname_status") or ["", ""]
    moved = len(hostname_status) == 2 and hostname_status[1] == "moved"
    return NotificationKind.MOVED if moved else NotificationKind.FAILED


def record_transitions(
    *, now: datetime | None = None, domain_ids: Iterable[Any] | None = None
) -> list[DomainNotification]:
    """Record the notifications owed for recent status changes to active or failed (of
    `domain_ids` only, if given: a batch's own changes, read by the domains' event index
    instead of the day's events).

    One query finds the changes that have no notification yet, one INSERT records them all
    (a row another process recorded first is left to it: the unique constraint skips it), one
    query reads them back. Idempotent and safe to run concurrently: `send_many` claims each row
    before its email goes, so every email goes once.
    """
    now = now or timezone.now()
    notified = DomainNotification.objects.filter(
        domain_id=OuterRef("domain_id"),
        kind__in=[NotificationKind.ACTIVE, NotificationKind.FAILED, NotificationKind.MOVED],
        key=Cast(OuterRef("pk"), output_field=CharField()),
    )
    recent = DomainEvent.objects.all()
    if domain_ids is not None:
        recent = recent.filter(domain_id__in=list(domain_ids))
    events = list(
        recent.filter(
            kind=DomainEventKind.STATUS_CHANGED,
            to_status__in=[DomainStatus.ACTIVE, DomainStatus.FAILED],
            created_at__gte=now - TRANSITION_LOOKBACK,
            domain__isnull=False,
        )
        # Our status unchanged (only Cloudflare's raw values moved): not a transition.
        .exclude(from_status=F("to_status"))
        .exclude(Exists(notified))
        .only("pk", "domain_id", "to_status", "data")
        .order_by("created_at", "pk")
    )
    if not events:
        return []
    rows = []
    for event in events:
        if event.domain_id is None:  # filtered above; this tells the type checker
            continue
        row = DomainNotification(kind=_kind_for(event), key=str(event.pk))
        row.domain_id = event.domain_id
        rows.append(row)
    with transaction.atomic():
        # A domain removed since its event was read would fail the INSERT's foreign key at
        # commit: lock the ones still here (a removal waits for the insert, then takes the
        # notification with it) and record only theirs.
        alive = set(
            Domain.objects.select_for_update(no_key=True)
            .filter(pk__in={r.domain_id for r in rows})
            .values_list("pk", flat=True)
        )
        rows = [r for r in rows if r.domain_id in alive]
        DomainNotification.objects.bulk_create(rows, ignore_conflicts=True)
    wanted = {(r.domain_id, r.kind, r.key) for r in rows}
    recorded = DomainNotification.objects.filter(
        domain_id__in={r.domain_id for r in rows}, key__in={r.key for r in rows}
    ).order_by("created_at", "pk")
    return [n for n in recorded if (n.domain_id, n.kind, n.key) in wanted]


def owner_emails(domain: Domain) -> list[str]:
    return _owners([domain.organization_id]).get(domain.organization_id, [])


def _owners(organization_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each organization's owners' addresses, in one query."""
    found: dict[int, set[str]] = defaultdict(set)
    for organization_id, email in (
        User.objects.filter(
            memberships__organization_id__in=list(organization_ids),
            memberships__role=Role.OWNER,
            is_active=True,
        )
        .exclude(email="")
        .values_list("memberships__organization_id", "email")
    ):
        found[organization_id].add(email)
    return {org: sorted(emails) for org, emails in found.items()}


def send(notification: DomainNotification) -> bool:
    """Send one recorded notification's email; see `send_many`."""
    return send_many([notification]) == 1


def send_many(notifications: Sequence[DomainNotification]) -> int:
    """Send recorded notifications' emails, each once: they are claimed before sending.

    A few statements whatever their number: one UPDATE claims them (stamping `sent_at` with a
    token no other process holds), one query reads the claimed ones with their domains, one
    their organizations' owners, one UPDATE per organization records the recipients. Returns
    how many emails went out. A failure of the mail server is kept on the row (staff can see it
    in admin) and not retried, so nobody ever gets the same email twice.
    """
    if not notifications:
        return 0
    token = timezone.now().replace(microsecond=0) + timedelta(
        microseconds=secrets.randbelow(1_000_000)
    )
    ids = [n.pk for n in notifications]
    DomainNotification.objects.filter(pk__in=ids, sent_at=None, error="").update(sent_at=token)
    claimed = list(
        DomainNotification.objects.filter(pk__in=ids, sent_at=token).select_related(
            "domain__organization"
        )
    )
    if not claimed:
        return 0
    owners = _owners({n.domain.organization_id for n in claimed})
    target = cname_target()
    site = str(getattr(settings, "SITE_URL", "")).rstrip("/")
    delivered: dict[tuple[str, ...], list[int]] = defaultdict(list)
    nobody: list[int] = []
    for notification in claimed:
        domain = notification.domain
        recipients = owners.get(domain.organization_id, [])
        if not recipients:
            nobody.append(notification.pk)
            continue
        context = {
            "domain": domain,
            "organization": domain.organization,
            "explanation": explain(domain, target=target),
            "target": target,
            "site_url": site,
            "notification": notification,
        }
        subject = " ".join(
            render_to_string(f"emails/{notification.kind}_subject.txt", context).split()
        )
        body = render_to_string(f"emails/{notification.kind}.txt", context)
        try:
            send_mail(subject, body, None, recipients)
        except OSError as error:  # smtplib's errors are OSErrors; record it, never resend
            logger.warning("notification %s: sending failed: %s", notification.pk, error)
            DomainNotification.objects.filter(pk=notification.pk).update(
                error=str(error)[:1000], recipients=recipients
            )
            continue
        delivered[tuple(recipients)].append(notification.pk)
    if nobody:
        DomainNotification.objects.filter(pk__in=nobody).update(
            error="no owner with an email address"
        )
    for addresses, sent in delivered.items():
        DomainNotification.objects.filter(pk__in=sent).update(recipients=list(addresses))
    return sum(len(sent) for sent in delivered.values())
