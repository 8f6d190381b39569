"""Hand-off links: made for one domain, opened without signing in, expiring, revocable."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit
from accounts.models import User
from domains.errors import DomainError
from domains.handoffs import emails
from domains.models import Domain, DomainStatus, Handoff
from domains.services import CheckResult, domain_check_now

MAX_DAYS = 90
# A link's views are written at most this often (a page kept open is not a write a second).
SEEN_EVERY = timedelta(minutes=1)


def _days(days: Any) -> int:
    if days is None:
        return int(settings.HANDOFF_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise DomainError(
            "invalid_days", f"Give a number of days from 1 to {MAX_DAYS}.", field="days"
        )
    return days


def _email(email: Any, domain: Domain) -> str:
    if email in (None, ""):
        return ""
    if not isinstance(email, str):
        raise DomainError("invalid_email", "Give the email address as text.", field="email")
    address = email.strip()
    try:
        validate_email(address)
    except ValidationError:
        raise DomainError(
            "invalid_email",
            f"{address!r} is not an email address. Give one like it@customer.example.",
            field="email",
        ) from None
    if emails.unsubscribed(domain.organization_id, address):
        raise DomainError(
            "unsubscribed",
            f"{address} asked not to get emails from {domain.organization.name}: send them "
            "the link yourself.",
            field="email",
        )
    return address


def handoff_create(
    *, domain: Domain, actor: User | None = None, days: Any = None, email: Any = None
) -> tuple[Handoff, str]:
    """A new link to `domain`'s instructions, valid for `days` (HANDOFF_DAYS by default);
    returns it with its secret, which is stored nowhere (only its SHA-256 digest). With
    `email`, the instructions are emailed there, and reminders follow until the domain is
    active (`domains.handoffs.emails`)."""
    valid_for = _days(days)
    recipient = _email(email, domain)
    raw = Handoff.PREFIX + secrets.token_urlsafe(32)  # 256 bits
    with transaction.atomic():
        handoff = Handoff.objects.create(
            domain=domain,
            digest=Handoff.digest_of(raw),
            created_by=actor,
            expires_at=timezone.now() + timedelta(days=valid_for),
            recipient_email=recipient,
        )
        if recipient:
            emails.schedule_emails(handoff)
        audit(
            domain.organization_id,
            "handoff.created",
            target=handoff,
            target_label=domain.hostname,
            changes={"emailed_to": recipient} if recipient else {},
            actor=actor,
        )
    return handoff, raw


def handoff_url(raw: str) -> str:
    return f"{settings.SITE_URL}{reverse('handoff', args=[raw])}"


def handoff_revoke(*, handoff: Handoff) -> Handoff:
    """Revoke `handoff` (idempotent: the first revocation's time stays)."""
    with transaction.atomic():
        revoked = Handoff.objects.filter(pk=handoff.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit(
                handoff.domain.organization_id,
                "handoff.revoked",
                target=handoff,
                target_label=handoff.domain.hostname,
            )
    handoff.refresh_from_db(fields=["revoked_at"])
    return handoff


def handoff_extend(*, handoff: Handoff, days: Any = None) -> Handoff:
    """Let a usable link work for `days` more from now (never shorter than it already is)."""
    if handoff.revoked_at is not None:
        raise DomainError("revoked", "This link was revoked: make a new one.")
    until = timezone.now() + timedelta(days=_days(days))
    if until > handoff.expires_at:
        Handoff.objects.filter(pk=handoff.pk).update(expires_at=until)
        handoff.expires_at = until
    return handoff


def handoff_open(raw: str, *, now: datetime | None = None) -> Handoff | None:
    """The usable link whose secret is `raw`, or None (unknown, expired and revoked alike, and
    a link to a domain being removed: its DNS owner has nothing left to do), with its domain
    and organization. Marks it viewed."""
    now = now or timezone.now()
    usable = (
        Handoff.objects.usable(now)
        .exclude(domain__status=DomainStatus.DELETING)
        .select_related("domain", "domain__organization")
    )
    emailed = emails.handoff_id_from_email_token(raw)
    if emailed is not None:
        # The emailed link: its id, signed (checked in constant time by the signer).
        handoff = usable.filter(pk=emailed).exclude(recipient_email="").first()
    else:
        if not raw.startswith(Handoff.PREFIX) or len(raw) > 100:
            return None
        digest = Handoff.digest_of(raw)
        handoff = usable.filter(digest=digest).first()
        if handoff is not None and not hmac.compare_digest(handoff.digest, digest):
            return None
    if handoff is None:
        return None
    if handoff.last_viewed_at is None or handoff.last_viewed_at < now - SEEN_EVERY:
        Handoff.objects.filter(pk=handoff.pk).update(last_viewed_at=now)
        handoff.last_viewed_at = now
    return handoff


def handoff_check(*, handoff: Handoff) -> CheckResult:
    """ "Check my records": Check now for the link's domain (throttled per domain as Check now
    is; the view throttles per link and per address too)."""
    result = domain_check_now(domain=handoff.domain, actor=None)
    Handoff.objects.filter(pk=handoff.pk).update(last_checked_at=timezone.now())
    return result
