"""An organization's people: invitations (a link that works once, for INVITATION_DAYS, unless
revoked), roles, removal, leaving, and ownership. An organization always keeps an owner: the
last one can neither leave nor be demoted or removed."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Invitation, Membership, Organization, Role, User
from accounts.signals import member_joined, member_removed


class MemberError(Exception):
    """A refused change to an organization's people, with a sentence to show."""

    def __init__(self, code: str, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


INVITABLE_ROLES = (Role.ADMIN, Role.MEMBER)


# -- invitations ------------------------------------------------------------------------------
def invitation_url(raw: str) -> str:
    return f"{settings.SITE_URL}{reverse('accounts:invitation', args=[raw])}"


def _new_secret() -> tuple[str, str]:
    raw = Invitation.PREFIX + secrets.token_urlsafe(32)  # 256 bits
    return raw, Invitation.digest_of(raw)


def _send_invitation(invitation: Invitation, raw: str) -> None:
    context = {"invitation": invitation, "url": invitation_url(raw)}
    send_mail(
        render_to_string("emails/invitation_subject.txt", context).strip(),
        render_to_string("emails/invitation.txt", context),
        None,
        [invitation.email],
    )


def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by: User | None
) -> tuple[Invitation, str]:
    """Invite `email` in `role` (admin or member) and email them the link; returns the
    invitation and its link's secret (stored only as a digest)."""
    address = (email or "").strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise MemberError(
            "invalid_email", f"{email!r} is not an email address.", field="email"
        ) from None
    if role not in INVITABLE_ROLES:
        raise MemberError("invalid_role", "Invite as an admin or a member.", field="role")
    if Membership.objects.filter(organization=organization, user__email__iexact=address).exists():
        raise MemberError(
            "already_member", f"{address} is already a member of {organization.name}.",
            field="email",
        )  # fmt: skip
    if organization.invitations.pending().filter(email=address).exists():
        raise MemberError(
            "already_invited",
            f"{address} is already invited: resend or revoke that invitation below.",
            field="email",
        )
    raw, digest = _new_secret()
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization=organization,
            email=address,
            role=role,
            digest=digest,
            invited_by=invited_by,
            expires_at=timezone.now() + timedelta(days=int(settings.INVITATION_DAYS)),
        )
        audit(
            organization.pk,
            "invitation.sent",
            target=invitation,
            target_label=address,
            changes={"role": role},
            actor=invited_by,
        )
    transaction.on_commit(lambda: _send_invitation(invitation, raw))
    return invitation, raw


def invitation_resend(*, invitation: Invitation) -> str:
    """A new link (the old one stops working), valid for INVITATION_DAYS from now, emailed."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise MemberError("not_pending", "This invitation was accepted or revoked already.")
    raw, digest = _new_secret()
    invitation.digest = digest
    invitation.expires_at = timezone.now() + timedelta(days=int(settings.INVITATION_DAYS))
    with transaction.atomic():
        invitation.save(update_fields=["digest", "expires_at"])
        audit(
            invitation.organization_id,
            "invitation.resent",
            target=invitation,
            target_label=invitation.email,
        )
    transaction.on_commit(lambda: _send_invitation(invitation, raw))
    return raw


def invitation_revoke(*, invitation: Invitation) -> None:
    with transaction.atomic():
        if Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            audit(
                invitation.organization_id,
                "invitation.revoked",
                target=invitation,
                target_label=invitation.email,
            )


def invitation_open(raw: str) -> Invitation | None:
    """The pending invitation whose link is `raw`; None for unknown, used, revoked and
    expired links alike."""
    if not raw.startswith(Invitation.PREFIX) or len(raw) > 100:
        return None
    digest = Invitation.digest_of(raw)
    invitation = (
        Invitation.objects.pending().select_related("organization", "invited_by")
        .filter(digest=digest).first()
    )  # fmt: skip
    if invitation is None or not hmac.compare_digest(invitation.digest, digest):
        return None
    return invitation


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join through the invitation (once: a conditional update claims it). Whoever holds the
    link and is signed in may accept; who did is recorded. Someone already in the
    organization keeps their role."""
    with transaction.atomic():
        claimed = (
            Invitation.objects.pending()
            .filter(pk=invitation.pk)
            .update(accepted_at=timezone.now(), accepted_by=user)
        )
        if not claimed:
            raise MemberError("not_pending", "This invitation was used, revoked or expired.")
        existing = Membership.objects.filter(organization=invitation.organization, user=user)
        membership = existing.first()
        created = membership is None
        if membership is None:
            try:
                with transaction.atomic():
                    membership = Membership.objects.create(
                        organization=invitation.organization, user=user, role=invitation.role
                    )
            except IntegrityError:
                membership = existing.get()
        User.objects.filter(pk=user.pk).update(current_organization=invitation.organization)
        user.current_organization = invitation.organization
        if created:
            member_joined.send(sender=Membership, membership=membership)
        audit(
            invitation.organization_id,
            "invitation.accepted",
            target=invitation,
            target_label=invitation.email,
            changes={"user": user.username, "role": membership.role},
            actor=user,
        )
    return membership


# -- members ----------------------------------------------------------------------------------
def _owners(organization_id: int) -> int:
    return Membership.objects.filter(organization_id=organization_id, role=Role.OWNER).count()


def _locked(organization_id: int) -> None:
    """Serialise changes to an organization's people (the last-owner rule must hold under
    concurrent requests)."""
    Organization.objects.select_for_update().filter(pk=organization_id).first()


def member_change_role(*, actor: Membership, member: Membership, role: str) -> Membership:
    """Change a member's role between admin and member (owners: see `ownership_transfer`)."""
    if role not in INVITABLE_ROLES:
        raise MemberError(
            "invalid_role", "Choose admin or member; make an owner with “Make owner”.",
            field="role",
        )  # fmt: skip
    with transaction.atomic():
        _locked(member.organization_id)
        member.refresh_from_db(fields=["role"])
        if member.role == Role.OWNER:
            if actor.role != Role.OWNER:
                raise MemberError("owner_only", "Only an owner can change an owner's role.")
            if _owners(member.organization_id) == 1:
                raise MemberError(
                    "last_owner",
                    "This is the organization's last owner: make someone else owner first.",
                )
        before = member.role
        member.role = role
        member.save(update_fields=["role"])
        audit(
            member.organization_id,
            "member.role_changed",
            target=member,
            target_label=member.user.username,
            changes={"role": [before, role]},
        )
    return member


def member_remove(*, actor: Membership, member: Membership) -> None:
    with transaction.atomic():
        _locked(member.organization_id)
        member.refresh_from_db(fields=["role"])
        if member.role == Role.OWNER and actor.role != Role.OWNER:
            raise MemberError("owner_only", "Only an owner can remove an owner.")
        if member.role == Role.OWNER and _owners(member.organization_id) == 1:
            raise MemberError("last_owner", "The organization's last owner cannot be removed.")
        member_removed.send(
            sender=Membership,
            organization_id=member.organization_id,
            username=member.user.username,
            role=member.role,
        )
        audit(
            member.organization_id,
            "member.removed",
            target=member,
            target_label=member.user.username,
            changes={"role": member.role},
        )
        member.delete()
        User.objects.filter(
            pk=member.user_id, current_organization_id=member.organization_id
        ).update(current_organization=None)


def member_leave(*, member: Membership) -> None:
    """Leave the organization (the last owner cannot: transfer ownership first)."""
    with transaction.atomic():
        _locked(member.organization_id)
        member.refresh_from_db(fields=["role"])
        if member.role == Role.OWNER and _owners(member.organization_id) == 1:
            raise MemberError(
                "last_owner",
                "You are the organization's last owner: make someone else owner first.",
            )
        member_removed.send(
            sender=Membership,
            organization_id=member.organization_id,
            username=member.user.username,
            role=member.role,
        )
        audit(
            member.organization_id, "member.left", target=member, target_label=member.user.username
        )
        member.delete()
        User.objects.filter(
            pk=member.user_id, current_organization_id=member.organization_id
        ).update(current_organization=None)


def ownership_transfer(*, actor: Membership, member: Membership) -> None:
    """Make `member` an owner; the acting owner becomes an admin."""
    if actor.role != Role.OWNER:
        raise MemberError("owner_only", "Only an owner can transfer ownership.")
    if member.pk == actor.pk:
        raise MemberError("same_member", "You are an owner already.")
    with transaction.atomic():
        _locked(member.organization_id)
        Membership.objects.filter(pk=member.pk).update(role=Role.OWNER)
        Membership.objects.filter(pk=actor.pk).update(role=Role.ADMIN)
        audit(
            member.organization_id,
            "ownership.transferred",
            target=member,
            target_label=member.user.username,
            changes={"from": actor.user.username, "to": member.user.username},
        )
    member.role, actor.role = Role.OWNER, Role.ADMIN
