"""Account workflows: personal organizations on first sign-in, switching organizations, tokens,
settings, and deleting an organization."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from accounts.audit import audit
from accounts.models import (
    ApiToken,
    Invitation,
    Membership,
    Organization,
    Role,
    TokenScope,
    User,
)
from accounts.signals import organization_deleting


def _unique_slug(base: str) -> str:
    slug = slugify(base)[:40] or "org"
    candidate = slug
    while Organization.objects.filter(slug=candidate).exists():
        candidate = f"{slug}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return candidate


def organization_create(*, owner: User, name: str) -> Organization:
    """Create an organization with `owner` as its owner and make it their current one.

    Slugs are unique; a race between two creations of the same slug is retried with a fresh
    suffix rather than surfacing an IntegrityError to the user.
    """
    for _attempt in range(5):
        try:
            with transaction.atomic():
                org = Organization.objects.create(name=name[:100], slug=_unique_slug(name))
                Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
                User.objects.filter(pk=owner.pk).update(current_organization=org)
        except IntegrityError:
            continue
        owner.current_organization = org
        return org
    raise RuntimeError("Could not find a free organization slug")


def organization_ensure_personal(*, user: User) -> Organization:
    """Give a user their personal organization unless they already belong to one.

    Idempotent: called on every sign-in, it creates nothing for a user who has any membership.
    """
    existing = Organization.objects.for_user(user).order_by("memberships__created_at").first()
    if existing is not None:
        if user.current_organization_id is None:
            organization_switch(user=user, organization=existing)
        return existing
    return organization_create(owner=user, name=f"{user.username}'s organization")


def organization_switch(*, user: User, organization: Organization) -> None:
    """Remember `organization` as the user's current one. The caller has checked membership."""
    User.objects.filter(pk=user.pk).update(current_organization=organization)
    user.current_organization = organization


def api_token_create(
    *,
    organization: Organization,
    created_by: User,
    name: str,
    scope: str = TokenScope.WRITE,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `organization`, `read` or `write`, working until revoked or for
    `expires_in_days`; returns it with the raw value, which is never stored."""
    if scope not in TokenScope.values:
        raise ValueError(f"Unknown token scope {scope!r}")
    raw = ApiToken.PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            organization=organization,
            name=name.strip()[:100] or "API token",
            digest=ApiToken.digest_of(raw),
            display_prefix=raw[: len(ApiToken.PREFIX) + 6],
            created_by=created_by,
            scope=scope,
            expires_at=(
                timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
            ),
        )
        audit(
            organization.pk,
            "token.created",
            target=token,
            target_label=f"{token.name} ({token.display_prefix}…)",
            changes={"scope": scope, "expires_at": str(token.expires_at or "")},
            actor=created_by,
        )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke `token` (idempotent: revoking twice keeps the first revocation time)."""
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            audit(
                token.organization_id,
                "token.revoked",
                target=token,
                target_label=f"{token.name} ({token.display_prefix}…)",
            )
    token.refresh_from_db(fields=["revoked_at"])
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token whose digest matches `raw`, or None. Marks it used (at most once a
    minute, so a busy client does not turn every API read into a write)."""
    if not raw.startswith(ApiToken.PREFIX):
        return None
    try:
        # Digests are unique. With the organization, which the API's writes act for.
        token = (
            ApiToken.objects.active()
            .select_related("organization")
            .get(digest=ApiToken.digest_of(raw))
        )
    except ApiToken.DoesNotExist:
        return None
    now = timezone.now()
    if token.last_used_at is None:
        with transaction.atomic():
            # The first use: recorded once (only one request's update finds it unused).
            if ApiToken.objects.filter(pk=token.pk, last_used_at__isnull=True).update(
                last_used_at=now
            ):
                audit(
                    token.organization_id,
                    "token.first_used",
                    target=token,
                    target_label=f"{token.name} ({token.display_prefix}…)",
                )
    elif now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


BRANDING_FIELDS = ("name", "brand_logo_url", "brand_accent", "support_url")


def organization_update(*, organization: Organization, **fields: str) -> Organization:
    """Change the organization's display name and branding (validated by the model)."""
    unknown = set(fields) - set(BRANDING_FIELDS)
    if unknown:
        raise ValueError(f"Not settable here: {', '.join(sorted(unknown))}")
    before = {name: getattr(organization, name) for name in fields}
    for name, value in fields.items():
        setattr(organization, name, value)
    organization.full_clean(exclude=["slug", "stripe_customer_id"])
    changes = {
        name: [before[name], value] for name, value in fields.items() if before[name] != value
    }
    with transaction.atomic():
        organization.save(update_fields=[*fields])
        if changes:
            audit(organization.pk, "organization.changed", target=organization, changes=changes)
    return organization


def organization_delete(*, organization: Organization, actor: User | None) -> bool:
    """Ask for the organization's deletion (the caller checked that `actor` is an owner and
    typed the name). Returns False if it was asked for already.

    At once, in one transaction: nobody belongs to it any more (it leaves everyone's switcher,
    and a member whose only organization it was gets a fresh personal one), its API tokens and
    pending invitations are revoked, and the apps that keep things outside are told
    (`organization_deleting`: the domains app offboards its hostnames and origins). The row
    itself goes later, once nothing is left at Cloudflare and its subscription is canceled.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        if locked.deletion_requested_at is not None:
            return False
        Organization.objects.filter(pk=locked.pk).update(
            deletion_requested_at=now, deletion_requested_by=actor
        )
        locked.deletion_requested_at, locked.deletion_requested_by = now, actor
        tokens = ApiToken.objects.filter(organization=locked, revoked_at__isnull=True).update(
            revoked_at=now
        )
        invitations = (
            Invitation.objects.filter(organization=locked).pending().update(revoked_at=now)
        )
        members = list(
            Membership.objects.filter(organization=locked)
            .order_by("user__username")
            .values_list("user__username", flat=True)
        )
        audit(
            locked.pk,
            "organization.deletion_requested",
            target=locked,
            changes={
                "members": members,
                "tokens_revoked": tokens,
                "invitations_revoked": invitations,
            },
            actor=actor,
        )
        organization_deleting.send(sender=Organization, organization=locked)
        Membership.objects.filter(organization=locked).delete()
        User.objects.filter(current_organization=locked).update(current_organization=None)
    organization.deletion_requested_at = now
    organization.deletion_requested_by = actor
    if actor is not None and actor.current_organization_id == organization.pk:
        actor.current_organization = None
    return True
