"""Origins (domains/origins/): where an organization's customers' traffic goes, and whether
the zone may use custom origin servers at all."""

from __future__ import annotations

import logging
import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Organization


class OriginState(models.TextChoices):
    PENDING = "pending", "Being written"  # the DNS record is to be created or changed
    READY = "ready", "In place"  # the DNS record says what `address` says
    FAILED = "failed", "Failed"  # Cloudflare refused for good; `last_error` says why
    DELETING = "deleting", "Being removed"  # domains move away, then the record goes


def new_origin_key() -> str:
    """The record's first label: random, so the name reveals nothing about the tenant."""
    import secrets

    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "o" + "".join(secrets.choice(alphabet) for _ in range(11))


class OriginQuerySet(models.QuerySet["Origin"]):
    def default(self) -> Origin | None:
        """The default among these origins (one organization's), unless it is being removed."""
        return self.filter(is_default=True).exclude(state=OriginState.DELETING).first()

    def mark_record_missing(self, record_name: str) -> int:
        """Cloudflare answered 1421 (no DNS record of that name): have the origin's record
        written again by the origins' background step."""
        return (
            self.filter(record_name=record_name)
            .exclude(state=OriginState.DELETING)
            .update(record_id="", state=OriginState.PENDING, next_attempt_at=timezone.now())
        )


class Origin(models.Model):
    """An organization's app, and the proxied DNS record in our zone that stands for it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="origins")
    name = models.CharField(max_length=100)
    # A hostname (ASCII, lower case) or a public IPv4/IPv6 address.
    address = models.CharField(max_length=253)
    is_default = models.BooleanField(default=False)
    # The DNS record: its complete name (fixed at creation), its id at Cloudflare once written,
    # and what it holds there as far as we know.
    record_name = models.CharField(max_length=253, unique=True)
    record_id = models.CharField(max_length=64, blank=True, default="")
    record_type = models.CharField(max_length=5, blank=True, default="")
    record_content = models.CharField(max_length=253, blank=True, default="")
    state = models.CharField(
        max_length=10, choices=OriginState.choices, default=OriginState.PENDING, db_index=True
    )
    last_error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OriginQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="origin_unique_name"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="origin_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"

    @property
    def marker(self) -> str:
        """The record's comment: how we know a record in the zone is ours, and whose."""
        return f"dcvaas:origin={self.pk}"  # domains.origins.services.MARKER_PREFIX

    @property
    def is_serving(self) -> bool:
        """Its record exists at Cloudflare, so hostnames may point at it."""
        return bool(self.record_id) and self.state != OriginState.DELETING


class ZoneEntitlement(models.Model):
    """What the SaaS zone may do, as Cloudflare last told us (one row, pk 1)."""

    # When Cloudflare answered 1414 (no custom origin servers for this zone); None = allowed.
    custom_origins_refused_at = models.DateTimeField(null=True, blank=True)
    custom_origins_message = models.TextField(blank=True, default="")

    NOT_ENTITLED = (
        "Custom origins are not enabled on DCVaaS's Cloudflare zone yet, so every domain is "
        "served from the shared default origin. Your origins are kept and take over as soon as "
        "they are enabled."
    )

    def __str__(self) -> str:
        return "custom origins refused" if self.custom_origins_refused_at else "entitled"

    @classmethod
    def custom_origins_refusal(cls) -> str:
        """Why hostnames cannot be pointed at origins now ("" when they can)."""
        row = cls.objects.filter(pk=1).first()
        if row is None or row.custom_origins_refused_at is None:
            return ""
        return cls.NOT_ENTITLED

    @classmethod
    def refuse_custom_origins(cls, message: str) -> None:
        """Cloudflare said 1414: hostnames are not pointed at origins until staff allow it."""
        cls.objects.update_or_create(
            pk=1,
            defaults={
                "custom_origins_refused_at": timezone.now(),
                "custom_origins_message": message,
            },
        )
        logging.getLogger("domains.origins").error(
            "origins: Cloudflare refuses custom origin servers for the zone: %s", message
        )

    @classmethod
    def allow_custom_origins(cls) -> None:
        cls.objects.filter(pk=1).update(custom_origins_refused_at=None, custom_origins_message="")
