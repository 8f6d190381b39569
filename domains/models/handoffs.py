"""Links and emails for whoever manages a domain's DNS (domains/handoffs/)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from domains.models.domains import Domain


class HandoffQuerySet(models.QuerySet["Handoff"]):
    def usable(self, now: datetime | None = None) -> HandoffQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class Handoff(models.Model):
    """A no-login link to a domain's DNS instructions, for whoever manages its DNS
    (domains/handoffs/). Only a SHA-256 digest of the link's secret is stored; the link is
    shown once, to the person who made it."""

    PREFIX = "dns_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="handoffs")
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Where the instructions (and reminders) were emailed, if anywhere.
    recipient_email = models.EmailField(blank=True, default="")

    objects = HandoffQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"hand-off of {self.domain_id} until {self.expires_at:%Y-%m-%d}"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


class HandoffEmailKind(models.TextChoices):
    INSTRUCTIONS = "instructions", "Instructions"
    REMINDER = "reminder", "Reminder"


class HandoffEmail(models.Model):
    """An email a hand-off link owes its recipient (the outbox): the instructions at once,
    reminders after about 1, 3 and 6 days. Claimed by a conditional UPDATE of `sent_at`, so
    two workers never send one twice; one that is no longer wanted (the domain is active, the
    link revoked or expired, the recipient unsubscribed) is closed with the reason."""

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=HandoffEmailKind.choices)
    day = models.PositiveSmallIntegerField()  # days after the link was made
    due_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # claimed (and sent, unless skipped)
    skipped = models.CharField(max_length=40, blank=True, default="")  # why it was not sent
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["handoff", "day"], name="handoffemail_once_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.handoff_id} (day {self.day})"


class EmailUnsubscribe(models.Model):
    """A recipient who asked for no more DNS emails from an organization (one click)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="email_unsubscribes"
    )
    email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="emailunsubscribe_once")
        ]

    def __str__(self) -> str:
        return f"{self.email} from {self.organization_id}"
