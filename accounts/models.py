from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models import F

from billing.plans import PlanKey

if TYPE_CHECKING:
    from django.db.models.query import QuerySet

M = TypeVar("M", bound=models.Model)
_BULK_UPDATE: ContextVar[bool] = ContextVar("bulk_update", default=False)


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


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def for_user(self, user: User) -> QuerySet[Organization]:
        return self.filter(memberships__user=user)

    def touch(self, organization_ids: Iterable[int]) -> None:
        """Move the `cache_version` of these organizations on once the current transaction
        commits: what was cached under the old version is never read again.

        After the commit, not in the transaction: the organization's row would otherwise stay
        locked until the commit, and transactions that lock domains and then touch their
        organization (the sync loop's batches, a check) would deadlock with one another.
        """
        ids = sorted(set(organization_ids))
        if ids:
            transaction.on_commit(lambda: self._move_on(ids), using=self.db, robust=True)

    def _move_on(self, ids: list[int]) -> None:
        self.filter(pk__in=ids).update(cache_version=F("cache_version") + 1)


class TouchingQuerySet(models.QuerySet[M]):
    """A queryset of rows that belong to an organization (`organization_id`), whose every write
    touches that organization (`OrganizationQuerySet.touch`) when it commits.

    Pages and API answers built from these rows are cached under the organization's
    `cache_version` (`accounts.caching.organization_key`). Writes to `quiet_fields` alone (a sync
    loop's bookkeeping, shown nowhere: the model's `cache_quiet_fields`) touch nothing. The
    model's own `save` and `delete` touch too (`OrganizationOwned`).
    """

    @property
    def quiet_fields(self) -> frozenset[str]:
        return getattr(self.model, "cache_quiet_fields", frozenset())

    def update(self, **kwargs: object) -> int:
        if kwargs.keys() <= self.quiet_fields or _BULK_UPDATE.get():
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            # Exactly the rows written: locked as the UPDATE would lock them, then updated by
            # primary key.
            rows = list(self.select_for_update(no_key=True).values_list("pk", "organization_id"))
            count = (
                self.model._base_manager.using(self.db)
                .filter(pk__in=[pk for pk, _ in rows])
                .update(**kwargs)
            )
            Organization.objects.using(self.db).touch(owner for _, owner in rows)
        return count

    def bulk_update(
        self, objs: Iterable[M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs, fields = list(objs), list(fields)
        if set(fields) <= self.quiet_fields:
            return super().bulk_update(objs, fields, batch_size)
        # Django's bulk_update runs update() per batch: the owners are known here.
        reset = _BULK_UPDATE.set(True)
        try:
            count = super().bulk_update(objs, fields, batch_size)
        finally:
            _BULK_UPDATE.reset(reset)
        Organization.objects.using(self.db).touch(_owners(objs))
        return count

    def bulk_create(self, objs: Iterable[M], *args: object, **kwargs: object) -> list[M]:
        created = super().bulk_create(objs, *args, **kwargs)  # type: ignore[arg-type]
        Organization.objects.using(self.db).touch(_owners(created))
        return created

    def delete(self) -> tuple[int, dict[str, int]]:
        owners = set(self.values_list("organization_id", flat=True).order_by())
        deleted = super().delete()
        Organization.objects.using(self.db).touch(owners)
        return deleted


def _owners(objs: Iterable[models.Model]) -> set[int]:
    return {obj.organization_id for obj in objs}  # type: ignore[attr-defined]


class OrganizationOwned(models.Model):
    """A row of an organization's (`organization_id`) whose every write touches it: see
    `TouchingQuerySet`, which such models use as their manager.

    The one side effect in `save()` the house style allows itself, on purpose: a touch left to
    each service would be one forgotten call away from a stale page, and the admin, the sync
    loop's bulk writes and every service would each need it. Here no ORM write can miss it.
    """

    # Fields whose writes alone touch nothing: shown on no page and in no API answer.
    cache_quiet_fields: ClassVar[frozenset[str]] = frozenset()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        fields = kwargs.get("update_fields")
        if fields is None or not set(fields) <= self.cache_quiet_fields:
            self._touch()

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        self._touch()
        return deleted

    def _touch(self) -> None:
        owner: int = self.organization_id  # type: ignore[attr-defined]
        Organization.objects.using(self._state.db).touch([owner])


class Organization(models.Model):
    """A tenant: owns domains, API tokens and a subscription. Every tenant query starts here."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    plan = models.CharField(max_length=20, choices=PlanKey.choices, default=PlanKey.FREE)
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moves on with every write to the organization's domains or subscription (see
    # `TouchingQuerySet`): the version of everything cached about them.
    cache_version = models.PositiveBigIntegerField(default=0, editable=False)

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

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage billing, tokens and members."""
        return self.role in (Role.OWNER, Role.ADMIN)


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


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

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

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
