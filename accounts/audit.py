"""The audit log: who did what in an organization, recorded in the transaction of the change.

`audit(...)` inserts one `AuditEvent`; the actor, address and browser come from the request
being answered (`AuditContextMiddleware` keeps it in a context variable; a DRF request's token
is on it once authenticated), unless given. Outside a request (a worker, Stripe's webhook)
the actor is the system. Nothing in the app updates or deletes an event except the
retention sweep.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, User
from dcvaas.throttling import client_ip

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)

ACTIONS = {
    "user.signed_in": "Signed in",
    "invitation.sent": "Invitation sent",
    "invitation.resent": "Invitation sent again",
    "invitation.accepted": "Invitation accepted",
    "invitation.revoked": "Invitation revoked",
    "member.role_changed": "Role changed",
    "member.removed": "Member removed",
    "member.left": "Member left",
    "ownership.transferred": "Ownership transferred",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "token.first_used": "API token used for the first time",
    "organization.changed": "Organization settings changed",
    "organization.deletion_requested": "Organization deletion requested",
    "domain.added": "Domain added",
    "domain.removed": "Domain removal requested",
    "handoff.created": "Hand-off link made",
    "handoff.revoked": "Hand-off link revoked",
    "origin.created": "Origin added",
    "origin.changed": "Origin changed",
    "origin.removed": "Origin removal requested",
    "webhook.created": "Webhook endpoint added",
    "webhook.changed": "Webhook endpoint changed",
    "webhook.secret_rotated": "Webhook secret rotated",
    "webhook.removed": "Webhook endpoint removed",
    "plan.changed": "Plan changed",
}


class AuditContextMiddleware:
    """Keeps the request being answered where `audit` can read who and from where."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with answering(request):
            return self.get_response(request)


@contextmanager
def answering(request: HttpRequest) -> Iterator[None]:
    reset = _request.set(request)
    try:
        yield
    finally:
        _request.reset(reset)


def _address(request: HttpRequest) -> str | None:
    address = client_ip(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address


def audit(
    organization_id: int,
    action: str,
    *,
    target: Any = None,
    target_label: str = "",
    changes: dict[str, Any] | None = None,
    actor: User | None = None,
) -> AuditEvent:
    """Record `action` on `target` (a model instance, or None) in `organization_id`, in the
    caller's transaction."""
    assert action in ACTIONS, action
    request = _request.get()
    token: ApiToken | None = None
    ip_address = None
    user_agent = ""
    if request is not None:
        auth = getattr(request, "auth", None)
        token = auth if isinstance(auth, ApiToken) else None
        loaded = getattr(request, "_cached_user", None) or getattr(request, "user", None)
        if actor is None and loaded is not None and getattr(loaded, "is_authenticated", False):
            actor = loaded if isinstance(loaded, User) else None
        ip_address = _address(request)
        user_agent = request.headers.get("User-Agent", "")[:300]
    if token is not None:
        label = f"token “{token.name}” ({token.display_prefix}…)"
    elif actor is not None:
        label = actor.username
    else:
        label = ""
    return AuditEvent.objects.create(
        organization_id=organization_id,
        action=action,
        actor_user=actor if token is None else None,
        actor_token=token,
        actor_label=label[:150],
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(getattr(target, "pk", "") or "")[:64],
        target_label=(target_label or (str(target) if target is not None else ""))[:300],
        changes=changes or {},
        ip_address=ip_address,
        user_agent=user_agent,
    )


def audit_events(
    organization_id: int,
    *,
    actor: str = "",
    action: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """The organization's events, newest first, filtered: `actor` (part of the name),
    `action` (exact), `since`/`until` (days, inclusive)."""
    events = AuditEvent.objects.filter(organization_id=organization_id)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if action:
        events = events.filter(action=action)
    if since is not None:
        events = events.filter(created_at__date__gte=since)
    if until is not None:
        events = events.filter(created_at__date__lte=until)
    return events.order_by("-created_at", "-id")


# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_line(row: list[str]) -> str:
    """One CSV line (RFC 4180 quoting)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()


CSV_COLUMNS = ["time", "actor", "action", "target", "changes", "ip_address", "user_agent"]


def csv_rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    yield CSV_COLUMNS
    for event in events:
        yield [
            csv_safe(value)
            for value in (
                event.created_at.isoformat(),
                event.actor_label or "system",
                event.action,
                event.target_label,
                json.dumps(event.changes, sort_keys=True) if event.changes else "",
                event.ip_address or "",
                event.user_agent,
            )
        ]


def audit_sweep() -> int:
    """Delete events older than AUDIT_RETENTION_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=int(settings.AUDIT_RETENTION_DAYS))
    deleted, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
