"""Cloudflare's notifications (domains/push/), as they arrive."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class HintOutcome(models.TextChoices):
    WAITING = "waiting", "Waiting"
    APPLIED = "applied", "Applied"  # the hostname was fetched and its state applied
    COALESCED = "coalesced", "Coalesced"  # another hint for the same domain did the work
    POLLED = "polled", "Handed to the sync loop"  # a burst: listing beats one GET each
    UNKNOWN = "unknown", "Unknown hostname"
    IGNORED = "ignored", "Ignored"  # another zone, a test message, no hostname in it
    FAILED = "failed", "Failed"


class CloudflareHint(models.Model):
    """A notification from Cloudflare that a custom hostname's certificate changed: a hint to
    fetch the hostname now, never its state (domains/cloudflare/CONTRACT.md §11.4). Deduplicated by
    event id."""

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=120, blank=True, default="")
    hostname_id = models.CharField(max_length=64, blank=True, default="")
    hostname = models.CharField(max_length=253, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=HintOutcome.choices, default=HintOutcome.WAITING
    )
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=models.Q(outcome="waiting"),
                name="cloudflarehint_waiting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'notification'} {self.hostname or self.hostname_id}"
