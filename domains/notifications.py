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
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, OuterRef
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Role, User
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


def record_transitions(*, now: datetime | None = None) -> list[DomainNotification]:
    """Record the notifications owed for recent status changes to active or failed.

    One query finds the changes that have no notification yet; each new one costs an insert.
    Idempotent and safe to run concurrently (the unique constraint picks one winner).
    """
    now = now or timezone.now()
    notified = DomainNotification.objects.filter(
        domain_id=OuterRef("domain_id"),
        kind__in=[NotificationKind.ACTIVE, NotificationKind.FAILED, NotificationKind.MOVED],
        key=Cast(OuterRef("pk"), output_field=CharField()),
    )
    events = (
        DomainEvent.objects.filter(
            kind=DomainEventKind.STATUS_CHANGED,
            to_status__in=[DomainStatus.ACTIVE, DomainStatus.FAILED],
            created_at__gte=now - TRANSITION_LOOKBACK,
            domain__isnull=False,
        )
        # Our status unchanged (only Cloudflare's raw values moved): not a transition.
        .exclude(from_status=F("to_status"))
        .exclude(Exists(notified))
        .select_related("domain")
        .order_by("created_at", "pk")
    )
    created = []
    for event in events:
        assert event.domain is not None  # filtered above  # noqa: S101 - type narrowing
        notification = record(domain=event.domain, kind=_kind_for(event), key=str(event.pk))
        if notification is not None:
            created.append(notification)
    return created


def owner_emails(domain: Domain) -> list[str]:
    return sorted(
        set(
            User.objects.filter(
                memberships__organization_id=domain.organization_id,
                memberships__role=Role.OWNER,
                is_active=True,
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def send(notification: DomainNotification) -> bool:
    """Send a recorded notification's email (once: it is claimed before sending).

    Returns whether an email went out. A failure of the mail server is kept on the row (staff
    can see it in admin) and not retried, so nobody ever gets the same email twice.
    """
    now = timezone.now()
    if not DomainNotification.objects.filter(pk=notification.pk, sent_at=None, error="").update(
        sent_at=now
    ):
        return False
    domain = Domain.objects.filter(pk=notification.domain_id).first()
    recipients = owner_emails(domain) if domain is not None else []
    if domain is None or not recipients:
        DomainNotification.objects.filter(pk=notification.pk).update(
            error="no owner with an email address" if domain else "domain removed"
        )
        return False
    from domains.services import cname_target

    context = {
        "domain": domain,
        "organization": domain.organization,
        "explanation": explain(domain, target=cname_target()),
        "target": cname_target(),
        "site_url": str(getattr(settings, "SITE_URL", "")).rstrip("/"),
        "notification": notification,
    }
    subject = " ".join(render_to_string(f"emails/{notification.kind}_subject.txt", context).split())
    body = render_to_string(f"emails/{notification.kind}.txt", context)
    try:
        send_mail(subject, body, None, recipients)
    except OSError as error:  # smtplib's errors are OSErrors; record it, never resend
        logger.warning("notification %s: sending failed: %s", notification.pk, error)
        DomainNotification.objects.filter(pk=notification.pk).update(
            error=str(error)[:1000], recipients=recipients
        )
        return False
    DomainNotification.objects.filter(pk=notification.pk).update(recipients=recipients)
    return True
