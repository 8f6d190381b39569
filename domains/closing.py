"""Deleting an organization: nothing of it may stay behind at Cloudflare or keep charging.

Accounts records the request (`accounts.services.organization_delete`: nobody belongs to it
any more, its tokens and invitations are revoked) and sends `organization_deleting` inside that
transaction; here, in the same transaction, every domain becomes `deleting` (the sync loop
offboards it from Cloudflare, as a removal does, retrying until Cloudflare has no such
hostname) and every origin is set to be removed (its DNS record goes once no hostname points at
it). `organizations_finish_deleting` (a beat task, every minute) then cancels the subscription at
Stripe and deletes the organization row once no domain, origin or undelivered webhook of it is
left; a failure at Cloudflare or Stripe leaves the row to be tried again the next minute.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.signals import organization_deleting
from billing.services import (
    BillingError,
    customers_close,
    subscriptions_end,
    subscriptions_ending,
)
from billing.stripe_client import StripeClientError
from domains.events import domain_event, record_events
from domains.kick import kick
from domains.models import (
    Domain,
    DomainEventKind,
    DomainStatus,
    Origin,
    OriginState,
    WebhookDelivery,
    WebhookDeliveryStatus,
)

logger = logging.getLogger("domains.closing")


def on_organization_deleting(sender: Any, organization: Organization, **kwargs: Any) -> None:
    """Offboard everything the organization has at Cloudflare, in the caller's transaction."""
    now = timezone.now()
    domains = list(
        Domain.objects.filter(organization=organization).exclude(status=DomainStatus.DELETING)
    )
    events = [
        domain_event(
            domain,
            DomainEventKind.DELETING,
            from_status=domain.status,
            to_status=DomainStatus.DELETING,
            message="Removal requested: the organization is being deleted",
        )
        for domain in domains
    ]
    # Due now, all of them (the ones already being removed too): the next cycle takes them.
    # Their origins go too: no domain keeps choosing one (each keeps pointing where it does
    # until its hostname is gone, so its traffic is never sent to the fallback meanwhile).
    Domain.objects.filter(organization=organization).update(
        status=DomainStatus.DELETING,
        origin=None,
        next_sync_at=now,
        sync_attempts=0,
        updated_at=now,
    )
    record_events(events)
    Origin.objects.filter(organization=organization).update(
        state=OriginState.DELETING,
        is_default=False,
        attempts=0,
        last_error="",
        next_attempt_at=now,
    )
    kick("domains.schedule_sync")
    kick("domains.sync_origins")
    kick("domains.finish_organization_deletions")


def connect() -> None:
    organization_deleting.connect(
        on_organization_deleting, dispatch_uid="domains.closing.organization_deleting"
    )


def leftovers(organization: Organization) -> list[str]:
    """What still keeps the row: in words, empty when nothing does."""
    left = []
    domains = Domain.objects.filter(organization=organization).count()
    if domains:
        left.append(f"{domains} domain{'s' if domains != 1 else ''} at Cloudflare")
    origins = Origin.objects.filter(organization=organization).count()
    if origins:
        left.append(f"{origins} origin record{'s' if origins != 1 else ''}")
    undelivered = WebhookDelivery.objects.filter(
        message__organization=organization, status=WebhookDeliveryStatus.PENDING
    ).count()
    if undelivered:
        left.append(f"{undelivered} webhook deliver{'ies' if undelivered != 1 else 'y'}")
    return left


def organization_finish_deleting(organization: Organization) -> bool:
    """Cancel its subscription, and delete the row if nothing is left outside. Returns
    whether the row is gone. Safe to run twice at once: the row is locked and checked again."""
    left = leftovers(organization)
    try:
        # Cancel as soon as possible (no charge while the domains go), and once more before
        # the row goes: a checkout paid meanwhile is found at Stripe even if its event is late.
        if not left or subscriptions_ending(organization=organization):
            subscriptions_end(organization=organization)
    except (StripeClientError, BillingError) as error:
        logger.warning("deleting organization %s: Stripe: %s", organization.pk, error)
        return False
    if left:
        logger.info("deleting organization %s: waiting for %s", organization.pk, ", ".join(left))
        return False
    with transaction.atomic():
        locked = Organization.objects.select_for_update().filter(pk=organization.pk).first()
        if locked is None:
            return True
        if leftovers(locked):
            return False
        customers_close(organization=locked)
        locked.delete()
    logger.info(
        "organization %s (%s) deleted, asked for by user %s at %s",
        organization.pk,
        organization.slug,
        organization.deletion_requested_by_id,
        organization.deletion_requested_at,
    )
    return True


def organizations_finish_deleting() -> int:
    """One pass over the organizations being deleted; returns how many rows went."""
    return sum(
        organization_finish_deleting(organization)
        for organization in Organization.objects.being_deleted().order_by("deletion_requested_at")
    )
