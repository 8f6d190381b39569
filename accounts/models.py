from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator, validate_email
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.db.models.query import QuerySet


class User(AbstractUser):
    """A person who signs in (with GitHub). Custom from day one so it can grow without pain."""

    # The organization the user last worked in; remembered across sessions and devices.
    current_organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    def __str__(self) -> str:
        return self.username


def validate_support_link(value: str) -> None:
    """An https:// page or a mailto: link with one address."""
    if value.startswith("mailto:"):
        try:
            validate_email(value.removeprefix("mailto:"))
        except ValidationError:
            raise ValidationError("Give a mailto: link with an email address.") from None
        return
    URLValidator(schemes=["https"], message="Give an https:// address or a mailto: link.")(value)


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def for_user(self, user: User) -> QuerySet[Organization]:
        return self.filter(memberships__user=user)

    def being_deleted(self) -> QuerySet[Organization]:
        """Deletion asked for, and the row still here: its outside things are being removed."""
        return self.filter(deletion_requested_at__isnull=False)


class Organization(models.Model):
    """A tenant: owns domains, API tokens and a subscription. Every tenant query starts here.

    Its plan is its subscription's (billing), never a copy kept here.
    """

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Branding on the pages and emails its customers' DNS owners see (hand-off links).
    brand_logo_url = models.CharField(
        "logo URL",
        max_length=500,
        blank=True,
        default="",
        validators=[URLValidator(schemes=["https"], message="Give an https:// address.")],
        help_text="An https:// address of your logo (shown up to 48 px high).",
    )
    brand_accent = models.CharField(
        "accent colour",
        max_length=7,
        blank=True,
        default="",
        validators=[
            RegexValidator(
                r"^#[0-9a-fA-F]{6}$", "Give a colour as # and six hex digits, like #1f6feb."
            )
        ],
        help_text="Buttons and links, as # and six hex digits (like #1f6feb).",
    )
    support_url = models.CharField(
        "support link",
        max_length=500,
        blank=True,
        default="",
        validators=[validate_support_link],
        help_text="Where DNS owners can ask you for help: an https:// page or a mailto: link.",
    )
    # Deletion asked for (by an owner): nobody belongs to it any more, its tokens and
    # invitations are revoked, and its domains and origins are being removed from Cloudflare
    # and its subscription canceled; the row goes once nothing is left outside.
    deletion_requested_at = models.DateTimeField(null=True, blank=True, db_index=True)
    deletion_requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_unique_user_organization"
            )
        ]
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        """Not accepted, not revoked, not expired: the link still works."""
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """An invitation to join an organization in a role. Its link's secret is stored only as a
    SHA-256 digest; it works once, for INVITATION_DAYS, unless revoked (a resend makes a new
    secret, so the old link stops working)."""

    PREFIX = "inv_"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Whoever accepted: any signed-in person holding the link (recorded), not only `email`.
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization_id} as {self.role}"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        """Not revoked, not expired."""
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=timezone.now())


class TokenScope(models.TextChoices):
    READ = "read", "Read: look, never change"
    WRITE = "write", "Write: read and change"


class ApiToken(models.Model):
    """A tenant's API credential. Only a SHA-256 digest is stored; the raw token is shown once.

    Raw tokens look like `dcv_<43 url-safe characters>`; the first characters after the prefix
    are kept for display so people can tell their tokens apart.
    """

    PREFIX = "dcv_"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    display_prefix = models.CharField(max_length=16)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # What it may do: a read token gets 403 `read_only_token` on every change. Tokens made
    # before scopes existed are write tokens, as they always were.
    scope = models.CharField(max_length=10, choices=TokenScope.choices, default=TokenScope.WRITE)
    expires_at = models.DateTimeField(null=True, blank=True)  # None: until revoked

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def can_write(self) -> bool:
        return self.scope == TokenScope.WRITE

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


class IdempotentRequest(models.Model):
    """The answer to an API POST sent with an `Idempotency-Key`, replayed for a repeat.

    Keys are per organization; a repeat with a different body is refused rather than replayed.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="idempotent_requests"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and body
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="idempotent_request_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.key}"


class AuditEvent(models.Model):
    """Who did what in an organization, when, from where: append-only (the app only inserts,
    in the transaction of the change; the admin shows it read-only; a daily sweep deletes
    what is older than AUDIT_RETENTION_DAYS)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_events"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=40, db_index=True)  # "domain.added", "member.removed"
    # The actor: a person, an API token, or neither (Stripe, the system). The label keeps who
    # it was after the user or token is gone.
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, default="")
    target_type = models.CharField(max_length=40, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=300, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)  # {"field": [before, after]} or facts
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="auditevent_org_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.action}"
