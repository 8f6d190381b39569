"""Instructions by email, and reminders until the domain is active: the outbox of a hand-off
link made for an email address (`HandoffEmail`), sent by a beat task.

- The instructions go at once; reminders after about REMINDER_DAYS days, only while Cloudflare
  still checks (7 days) and the link works. Each is claimed by a conditional UPDATE (two
  workers never send one twice) and closed unsent, with the reason, once it is not wanted:
  the domain is active or gone, the link revoked or expired, the recipient unsubscribed.
- The emailed link is not the link's stored secret (only its digest is stored): it is the
  link's id signed with the site's key (`email_token`), so nothing that opens the page is kept
  in the database, and revoking the link ends it too.
- From "<organization> via DCVaaS" at our own address, Reply-To the organization's support
  address when it has one, with a one-click unsubscribe (RFC 8058) per recipient and
  organization: the recipient never signed up for anything.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from domains.guide import VALIDATION_WINDOW
from domains.kick import kick
from domains.models import (
    DomainStatus,
    EmailUnsubscribe,
    Handoff,
    HandoffEmail,
    HandoffEmailKind,
)

logger = logging.getLogger(__name__)

REMINDER_DAYS = (1, 3, 6)
EMAIL_PREFIX = "dnsm_"
_LINK_SALT = "domains.handoffs.email-link"
_UNSUBSCRIBE_SALT = "domains.handoffs.unsubscribe"
# A failed send is tried again this much later, doubling, at most this many times.
RETRY_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 5
SEND_BATCH = 100


# -- links ------------------------------------------------------------------------------------
def email_token(handoff: Handoff) -> str:
    return EMAIL_PREFIX + signing.dumps(str(handoff.pk), salt=_LINK_SALT)


def handoff_id_from_email_token(raw: str) -> uuid.UUID | None:
    if not raw.startswith(EMAIL_PREFIX) or len(raw) > 200:
        return None
    try:
        return uuid.UUID(signing.loads(raw.removeprefix(EMAIL_PREFIX), salt=_LINK_SALT))
    except (signing.BadSignature, ValueError, TypeError):
        return None


def email_link(handoff: Handoff) -> str:
    return f"{settings.SITE_URL}{reverse('handoff', args=[email_token(handoff)])}"


def unsubscribe_token(organization_id: int, email: str) -> str:
    return signing.dumps([organization_id, email.lower()], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_target(token: str) -> tuple[int, str] | None:
    """(organization id, email) of an unsubscribe link, or None if it was not ours."""
    try:
        organization_id, email = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(organization_id, int) or not isinstance(email, str):
        return None
    return organization_id, email


def unsubscribe_url(organization_id: int, email: str) -> str:
    token = unsubscribe_token(organization_id, email)
    return f"{settings.SITE_URL}{reverse('handoff-unsubscribe', args=[token])}"


def unsubscribed(organization_id: int, email: str) -> bool:
    return EmailUnsubscribe.objects.filter(
        organization_id=organization_id, email=email.lower()
    ).exists()


def unsubscribe(organization_id: int, email: str) -> None:
    """Idempotent: a second click changes nothing."""
    try:
        with transaction.atomic():
            EmailUnsubscribe.objects.create(organization_id=organization_id, email=email.lower())
    except IntegrityError:
        pass


# -- the outbox -------------------------------------------------------------------------------
def schedule_emails(handoff: Handoff) -> list[HandoffEmail]:
    """The instructions now and the reminders that fall before the link expires and while
    Cloudflare still checks (7 days from now: the link's making is a check's moment too).
    In the caller's transaction; a worker is started once it commits."""
    start = handoff.created_at
    until = min(handoff.expires_at, timezone.now() + VALIDATION_WINDOW)
    rows = [HandoffEmail(handoff=handoff, kind=HandoffEmailKind.INSTRUCTIONS, day=0, due_at=start)]
    rows += [
        HandoffEmail(
            handoff=handoff,
            kind=HandoffEmailKind.REMINDER,
            day=day,
            due_at=start + timedelta(days=day),
        )
        for day in REMINDER_DAYS
        if start + timedelta(days=day) < until
    ]
    created = HandoffEmail.objects.bulk_create(rows)
    kick("domains.send_handoff_emails")
    return created


def send_due_emails(*, now: datetime | None = None, limit: int = SEND_BATCH) -> int:
    """Send the emails that are due; returns how many went out. Safe to run in parallel."""
    now = now or timezone.now()
    due = list(
        HandoffEmail.objects.filter(sent_at__isnull=True, skipped="", due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in due:
        # The claim: only one worker's UPDATE finds it unsent.
        if not HandoffEmail.objects.filter(pk=pk, sent_at__isnull=True).update(sent_at=now):
            continue
        email = HandoffEmail.objects.select_related(
            "handoff", "handoff__domain", "handoff__domain__organization"
        ).get(pk=pk)
        reason = _unwanted(email, now)
        if reason:
            HandoffEmail.objects.filter(pk=pk).update(skipped=reason)
            continue
        try:
            _send(email)
        except (smtplib.SMTPException, OSError) as error:
            _retry_later(email, now, error)
            continue
        sent += 1
    return sent


def _unwanted(email: HandoffEmail, now: datetime) -> str:
    handoff = email.handoff
    domain = handoff.domain
    if domain.status == DomainStatus.DELETING:
        return "domain_removed"
    if domain.status == DomainStatus.ACTIVE:
        return "domain_active"
    if handoff.revoked_at is not None:
        return "link_revoked"
    if handoff.expires_at <= now:
        return "link_expired"
    if unsubscribed(domain.organization_id, handoff.recipient_email):
        return "unsubscribed"
    return ""


def _retry_later(email: HandoffEmail, now: datetime, error: BaseException) -> None:
    attempts = email.attempts + 1
    logger.warning("hand-off email %s failed (attempt %d): %s", email.pk, attempts, error)
    fields: dict[str, object] = {"attempts": attempts, "last_error": str(error)[:500]}
    if attempts >= MAX_ATTEMPTS:
        fields["skipped"] = "send_failed"
    else:
        fields["sent_at"] = None
        fields["due_at"] = now + RETRY_AFTER * 2 ** (attempts - 1)
    HandoffEmail.objects.filter(pk=email.pk).update(**fields)


def _sender(organization: Organization) -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return formataddr((f"{organization.name} via DCVaaS", address))


def _send(email: HandoffEmail) -> None:
    handoff = email.handoff
    domain = handoff.domain
    organization = domain.organization
    stop = unsubscribe_url(organization.pk, handoff.recipient_email)
    context = {
        "organization": organization,
        "domain": domain,
        "link": email_link(handoff),
        "reminder": email.kind == HandoffEmailKind.REMINDER,
        "day": email.day,
        "records": [r for r in domain.dns_records if r.get("required", True)],
        "expires_at": handoff.expires_at,
        "deadline": handoff.created_at + VALIDATION_WINDOW,
        "unsubscribe_url": stop,
    }
    subject = render_to_string("handoffs/email_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("handoffs/email.txt", context),
        from_email=_sender(organization),
        to=[handoff.recipient_email],
        reply_to=(
            [organization.support_url.removeprefix("mailto:")]
            if organization.support_url.startswith("mailto:")
            else None
        ),
        headers={
            "List-Unsubscribe": f"<{stop}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string("handoffs/email.html", context), "text/html")
    message.send()
