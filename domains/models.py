"""Models of the domains app.

`RateBudgetCounter` backs the shared Cloudflare rate budget (`domains.rate_budget`) when no Redis
is configured: one row per budget, spent with a single conditional UPDATE so that every web
process and worker on the machine draws from the same allowance without a read-then-write race.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from domains.hostnames import to_unicode


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


class DomainQuerySet(models.QuerySet["Domain"]):
    def due_for_sync(self, now: datetime) -> DomainQuerySet:
        return self.filter(next_sync_at__lte=now)


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


# ---------------------------------------------------------------------------------------------
# Origins (domains/origins/): where an organization's customers' traffic goes
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# The sync loop's records (domains/sync/)
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Outgoing webhooks (domains/webhooks/): Standard Webhooks deliveries to tenants' endpoints
# ---------------------------------------------------------------------------------------------
class WebhookEventType(models.TextChoices):
    DOMAIN_CREATED = "domain.created", "A domain was added"
    DOMAIN_ACTIVE = "domain.active", "A domain is active: HTTPS works"
    DOMAIN_NEEDS_ATTENTION = "domain.needs_attention", "A domain needs attention"
    DOMAIN_PENDING = "domain.pending", "An active domain is pending again"
    DOMAIN_DELETED = "domain.deleted", "A domain was removed"
    DOMAIN_CERTIFICATE_EXPIRING = "domain.certificate_expiring", "A certificate expires soon"
    DOMAIN_ORIGIN_CHANGED = "domain.origin_changed", "A domain is served by another origin now"
    DOMAIN_DNS_CHANGED = "domain.dns_changed", "What a domain's DNS records answer changed"
    MEMBER_JOINED = "member.joined", "Someone joined the organization"
    MEMBER_REMOVED = "member.removed", "Someone left or was removed from the organization"
    TEST = "webhook.test", "A test event, sent by hand"


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """Where an organization wants to hear about its domains, and the secret that signs it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    # Event types to send; empty means every type.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=80, default=new_webhook_secret)
    # After a rotation the old secret signs too, until this moment.
    previous_secret = models.CharField(max_length=80, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last success: an endpoint failing every delivery for
    # WEBHOOK_DISABLE_AFTER_DAYS is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "enabled"], name="webhookendpoint_org")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return (
            event_type == WebhookEventType.TEST
            or not self.event_types
            or (event_type in self.event_types)
        )

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one during
        its overlap after a rotation."""
        secrets_ = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            secrets_.append(self.previous_secret)
        return secrets_


class WebhookMessage(models.Model):
    """One event for an organization's endpoints: the outbox row, written in the transaction of
    the change it describes. `id` is the Standard Webhooks `webhook-id`: receivers dedupe by it.
    """

    id = models.CharField(max_length=40, primary_key=True, default=new_message_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_messages"
    )
    type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # {"type", "timestamp", "data": {...}}: exactly the body sent, as JSON.
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One message to one endpoint: its attempts so far and the last one's outcome."""

    # No index of their own: the unique (message, endpoint) constraint and the endpoint's log
    # index start with them. Every attempt rewrites its row (claim, record), and each index
    # more is written again each time.
    message = models.ForeignKey(
        WebhookMessage, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(
        max_length=10, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; None once succeeded or failed for good. A worker claims a
    # delivery by moving this forward to a short lease (renewed while its batch goes on) and
    # stamping `lease_token`, with a conditional UPDATE; recording the attempt clears the token.
    # A worker that dies leaves the lease to run out: the delivery is due again a minute later.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, default="")  # an excerpt of the body
    last_error = models.TextField(blank=True, default="")
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="webhookdelivery_once_per_endpoint"
            )
        ]
        indexes = [
            # The claim: an endpoint's pending deliveries due now, in the order they are sent,
            # read in index order and cut at the batch (no sort of the backlog), and whether an
            # endpoint has any due at all. Only pending rows: delivered history costs nothing.
            models.Index(
                fields=["endpoint", "next_attempt_at", "created_at", "id"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_pending_due",
            ),
            # A failing endpoint's oldest pending delivery (the one its retries probe with).
            models.Index(
                fields=["endpoint", "created_at", "id"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_pending_age",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.endpoint_id} ({self.status})"
