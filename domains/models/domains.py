"""A domain (a customer's hostname at Cloudflare), what we found in its DNS, and its history;
and the shared Cloudflare rate budget's counter when no Redis is configured."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from accounts.models import Organization
from domains.hostnames import to_unicode
from domains.models.origins import Origin, OriginState


class RateBudgetCounter(models.Model):
    """The spend of one outbound rate budget in its current fixed window, and any pause."""

    name = models.CharField(max_length=64, unique=True)
    # Start of the window `used` belongs to, in whole epoch seconds (a multiple of the window
    # length); a spend in a later window resets `used` in the same UPDATE.
    window_start = models.BigIntegerField(default=0)
    used = models.PositiveIntegerField(default=0)
    # Epoch seconds before which nobody may spend (set when Cloudflare answers 429).
    paused_until = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"{self.name}: {self.used} used in window {self.window_start}"


# ---------------------------------------------------------------------------------------------
# Domains
# ---------------------------------------------------------------------------------------------
class DomainStatus(models.TextChoices):
    """Our own summary of where a domain stands; Cloudflare's raw statuses are kept beside it."""

    REGISTERING = "registering", "Registering"  # saved; Cloudflare registration not confirmed
    PENDING = "pending", "Pending"  # registered; waiting for DNS, validation or certificate
    ACTIVE = "active", "Active"  # hostname and certificate both active at Cloudflare
    FAILED = "failed", "Needs attention"  # Cloudflare stopped trying: blocked, moved, timed out
    DELETING = "deleting", "Removing"  # offboarding from Cloudflare; retried until gone


SETTLED_STATUSES = (DomainStatus.ACTIVE, DomainStatus.FAILED)
SYNC_ONLY_FIELDS = ("next_sync_at", "sync_attempts", "moved_refresh_at")


class DomainQuerySet(models.QuerySet["Domain"]):
    def due_for_sync(self, now: datetime) -> DomainQuerySet:
        return self.filter(next_sync_at__lte=now)

    def shown(self) -> DomainQuerySet:
        """Without the columns only the sync loop reads (when to look again, how often it
        failed), which no page, answer or payload shows: two timestamps fewer to parse a row.
        Reading one of them on such a row costs a query (the query-count tests would notice)."""
        return self.defer(*SYNC_ONLY_FIELDS)


class Domain(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    # Normalised ASCII (punycode) form; unique across all organizations, by the database.
    hostname = models.CharField(max_length=253, unique=True)
    status = models.CharField(
        max_length=20, choices=DomainStatus.choices, default=DomainStatus.REGISTERING
    )

    # What Cloudflare says, verbatim (statuses it adds later are kept as they are).
    cloudflare_id = models.CharField(max_length=64, blank=True, default="")
    cloudflare_status = models.CharField(max_length=40, blank=True, default="")
    ssl_status = models.CharField(max_length=40, blank=True, default="")
    ssl_method = models.CharField(max_length=10, blank=True, default="http")
    verification_errors = models.JSONField(default=list, blank=True)
    validation_errors = models.JSONField(default=list, blank=True)
    # The records the customer must (or may) create: [{type, name, value, purpose, required}].
    dns_records = models.JSONField(default=list, blank=True)
    certificate_issuer = models.CharField(max_length=200, blank=True, default="")
    certificate_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    # The sync loop's bookkeeping.
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # When we last asked Cloudflare to re-validate a `moved` hostname (we do it once).
    moved_refresh_at = models.DateTimeField(null=True, blank=True)

    # The origin chosen for this domain; None follows the organization's default origin (and,
    # with no origin at all, the zone's fallback origin).
    # RESTRICT, not PROTECT: an origin still chosen by a domain cannot be deleted on its own,
    # but an organization deleted with its domains and origins can.
    origin = models.ForeignKey(
        "Origin", null=True, blank=True, on_delete=models.RESTRICT, related_name="domains"
    )
    # The `custom_origin_server` the hostname should have at Cloudflare ("" = the fallback
    # origin), and what it has as far as we know: the background work PATCHes the difference.
    origin_server = models.CharField(max_length=253, blank=True, default="")
    origin_applied = models.CharField(max_length=253, blank=True, default="")

    objects = DomainQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]
        indexes = [
            models.Index(fields=["organization", "hostname"], name="domain_org_hostname"),
            models.Index(fields=["organization", "status"], name="domain_org_status"),
            # The API lists newest first: without this every page sorts all the org's rows.
            models.Index(fields=["organization", "-created_at", "id"], name="domain_org_created"),
            # The sync loop counts the zone by certificate status only as far as its choice
            # needs (`sync.count_zone`): a range of this index, not a walk of the zone.
            models.Index(
                fields=["ssl_status"],
                condition=~models.Q(cloudflare_id=""),
                name="domain_registered_ssl",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["cloudflare_id"],
                condition=~models.Q(cloudflare_id=""),
                name="domain_unique_cloudflare_id",
            )
        ]

    def __str__(self) -> str:
        return self.hostname

    @property
    def unicode_hostname(self) -> str:
        """The hostname as people read it; `hostname` (punycode) is what DNS needs."""
        return to_unicode(self.hostname)

    @property
    def is_internationalised(self) -> bool:
        return self.unicode_hostname != self.hostname

    @property
    def status_label(self) -> str:
        """The status as people read it. (`get_status_display` rebuilds the choices' lookup
        on every call, once per row of a list.)"""
        return str(DomainStatus(self.status).label)

    @property
    def is_settled(self) -> bool:
        """Nothing will change without the customer or a periodic recheck: stop polling."""
        return self.status in SETTLED_STATUSES

    @property
    def is_ready(self) -> bool:
        """Honest readiness: both Cloudflare validations passed."""
        return self.cloudflare_status == "active" and self.ssl_status == "active"

    def serving_origin(self, origins: list[Origin] | None = None) -> Origin | None:
        """The origin that serves this domain now or will once its record is written; None: the
        zone's fallback origin. `origins`: the organization's, if already loaded."""
        if self.origin_id is not None:
            return self.origin
        if origins is None:
            return Origin.objects.filter(organization_id=self.organization_id).default()
        return next((o for o in origins if o.is_default and o.state != OriginState.DELETING), None)


class DnsHostDetection(models.Model):
    """Where a domain's DNS is hosted, as its nameservers say (`domains.dns.detect_host`),
    looked up in the background after it is added and at each Check now. A table of its own:
    the domain rows the sync loop and the lists read stay as they are."""

    domain = models.OneToOneField(
        Domain, on_delete=models.CASCADE, primary_key=True, related_name="dns_host"
    )
    zone = models.CharField(max_length=253, blank=True, default="")
    host = models.CharField(max_length=40, blank=True, default="")  # a `domains.dns.hosts` key
    confidence = models.CharField(max_length=10, blank=True, default="")
    nameservers = models.JSONField(default=list, blank=True)
    problem = models.CharField(max_length=500, blank=True, default="")  # why it could not tell
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.zone or '?'}: {self.host or 'unknown host'}"


class DnsCheck(models.Model):
    """The domain's records as last checked at its DNS host and at public resolvers
    (`domains.dns.check_records`): one row per domain, replaced at each check. `state` is a
    digest of what was found, so a change (the `domain.dns_changed` webhook) is told from a
    check that saw the same."""

    domain = models.OneToOneField(
        Domain, on_delete=models.CASCADE, primary_key=True, related_name="dns_check"
    )
    records = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=64, blank=True, default="")
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"DNS records of {self.domain_id} at {self.checked_at:%Y-%m-%d %H:%M}"

    @property
    def all_match(self) -> bool:
        return bool(self.records) and all(
            r["match"] for r in self.records if r.get("required", True) and r["type"] != "CAA"
        )


class DomainEventKind(models.TextChoices):
    CREATED = "created", "Added"
    REGISTERED = "registered", "Registered with Cloudflare"
    STATUS_CHANGED = "status_changed", "Status changed"
    ERROR = "error", "Error"
    CHECK_REQUESTED = "check_requested", "Check requested"
    DELETING = "deleting", "Removal requested"
    DELETED = "deleted", "Removed"
    ORIGIN_CHANGED = "origin_changed", "Origin changed"
    DNS_CHANGED = "dns_changed", "DNS records changed"


class DomainEvent(models.Model):
    """Append-only history of a domain. Kept (with the hostname) after the domain is removed."""

    domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="domain_events"
    )
    hostname = models.CharField(max_length=253)
    kind = models.CharField(max_length=20, choices=DomainEventKind.choices)
    from_status = models.CharField(max_length=40, blank=True, default="")
    to_status = models.CharField(max_length=40, blank=True, default="")
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["domain", "-created_at"], name="domainevent_domain_time")]

    def __str__(self) -> str:
        return f"{self.hostname}: {self.get_kind_display()}"
