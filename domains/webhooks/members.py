"""The tenants' webhooks about their people: `member.joined` and `member.removed`, recorded in
the transaction of the change (accounts sends the signals; connected in `DomainsConfig.ready`)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Membership
from accounts.signals import member_joined, member_removed
from domains.events import publish_organization_event
from domains.models import WebhookEventType


def on_member_joined(sender: Any, membership: Membership, **kwargs: Any) -> None:
    publish_organization_event(
        membership.organization_id,
        WebhookEventType.MEMBER_JOINED,
        {"member": {"username": membership.user.username, "role": membership.role}},
        timezone.now(),
    )


def on_member_removed(
    sender: Any, organization_id: int, username: str, role: str, **kwargs: Any
) -> None:
    publish_organization_event(
        organization_id,
        WebhookEventType.MEMBER_REMOVED,
        {"member": {"username": username, "role": role}},
        timezone.now(),
    )


def connect() -> None:
    member_joined.connect(on_member_joined, dispatch_uid="domains.webhooks.member_joined")
    member_removed.connect(on_member_removed, dispatch_uid="domains.webhooks.member_removed")
