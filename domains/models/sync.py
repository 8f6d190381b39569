"""The sync loop's records (domains/sync/): its cycles, and the emails it owes owners."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from domains.models.domains import Domain


class SyncStrategy(models.TextChoices):
    NONE = "none", "Nothing to fetch"
    GET = "get", "One GET per domain"
    LIST = "list", "Zone listing (50 a page)"


class SyncRun(models.Model):
    """One cycle of the sync loop: what it claimed, how it fetched, what changed, what it cost.

    `lease_until` doubles as the cycle's claim token: every domain this cycle claimed has exactly
    that `next_sync_at` until a batch writes its next check time, so the batches find "their"
    domains without carrying ids, and a redelivered batch finds none it already finished.
    Counters are added to with F() expressions by every batch of the cycle.
    """

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, default="beat")  # beat, command, test...
    strategy = models.CharField(
        max_length=10, choices=SyncStrategy.choices, default=SyncStrategy.NONE
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    # Registered hostnames, when the cycle counted them all (0: it needed no full count).
    zone_size = models.PositiveIntegerField(default=0)
    due = models.PositiveIntegerField(default=0)
    claimed = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    cloudflare_calls = models.PositiveIntegerField(default=0)
    # Tasks enqueued and not yet finished; the last one to finish claims the sweep
    # (`sweeping`), and the sweep sets `finished_at` once nothing is left to do.
    pending_batches = models.PositiveIntegerField(default=0)
    sweeping = models.BooleanField(default=False)
    budget_exhausted = models.BooleanField(default=False)
    # The certificate statuses listed with Cloudflare's filter ([""]: the whole zone; []: GETs).
    listed = models.JSONField(default=list, blank=True)
    # A listing failed (not for the budget): the domains it left are retried after a backoff.
    listing_failed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"sync {self.started_at:%Y-%m-%d %H:%M:%S} ({self.strategy}, {self.claimed})"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def listing_label(self) -> str:
        """What the cycle listed, in words (empty: it listed nothing)."""
        if not self.listed:
            return ""
        if "" in self.listed:
            return "the whole zone"
        return "certificates " + ", ".join(s.replace("_", " ") for s in self.listed)


class NotificationKind(models.TextChoices):
    ACTIVE = "active", "Domain is active"
    FAILED = "failed", "Domain needs attention"
    MOVED = "moved", "Domain moved away"
    EXPIRING = "expiring", "Certificate expires soon"


class DomainNotification(models.Model):
    """An email owed to an organization's owners for one transition of one domain.

    Inserted before the email is sent; the unique (domain, kind, key) constraint makes a retried
    task, a re-run cycle or two racing workers find the row taken and send nothing. `key` names
    the transition (the state it left, for status changes; the expiry date, for certificates).
    """

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    key = models.CharField(max_length=100)
    recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "kind", "key"], name="domainnotification_once_per_transition"
            )
        ]

    def __str__(self) -> str:
        return f"{self.domain_id}: {self.kind} ({self.key})"
