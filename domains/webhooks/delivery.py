"""Delivering recorded messages: claim, sign, send, record the outcome, schedule the retry.

Idempotent and safe to run concurrently: a worker claims a delivery by moving its
`next_attempt_at` to a lease with a conditional UPDATE, so two workers never send the same
attempt; a worker that dies mid-attempt leaves the lease to expire and the delivery is tried
again (at least once: receivers dedupe by `webhook-id`). A delivery that succeeded is never
claimed again.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    Field,
    OuterRef,
    PositiveIntegerField,
    PositiveSmallIntegerField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.utils import timezone

from accounts.models import Role, User
from domains.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from domains.webhooks.guard import WebhookUrlError, resolve_target
from domains.webhooks.sender import Attempt, Connections, body_of, send, signed_headers

logger = logging.getLogger("domains.webhooks")

# Seconds before each retry, as Svix schedules them: the first attempt goes at once, then 5 s,
# 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later; after the last, the delivery has failed.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
BATCH = 50
# Delivered attempts are recorded together (see `_Successes`): a batch's worth, or whatever
# was delivered within a second, in one UPDATE. A worker that dies sends at most that again.
RECORD_EVERY = BATCH
RECORD_WITHIN_SECONDS = 1.0


def lease_seconds() -> float:
    """How long a claim lasts: six attempts' time limit (a minute by default). A batch renews
    its claims when half of that is left, which an attempt (WEBHOOK_TIMEOUT_SECONDS at most)
    never uses up, so a live worker keeps them while one that dies leaves them due again
    within a minute."""
    return 6 * float(settings.WEBHOOK_TIMEOUT_SECONDS)


def due_deliveries(endpoint: Any, now: datetime) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries due now, in the order they are sent: read from the pending
    deliveries' index in its own order (`webhookdelivery_pending_due`), so taking a batch
    costs the batch, not the backlog."""
    return WebhookDelivery.objects.filter(
        endpoint=endpoint, status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "created_at", "id")


def endpoints_with_due_deliveries(now: datetime) -> QuerySet[WebhookEndpoint]:
    """Enabled endpoints with a delivery due now: one probe of the index per endpoint, however
    long the backlog."""
    return (
        WebhookEndpoint.objects.filter(enabled=True)
        .filter(Exists(due_deliveries(OuterRef("pk"), now)))
        .order_by()
    )


def due_endpoints(now: datetime | None = None) -> list[str]:
    """Endpoints with a delivery due now: each is delivered to by a task of its own, so a slow
    endpoint delays only its own messages."""
    ids = endpoints_with_due_deliveries(now or timezone.now()).values_list("pk", flat=True)
    return [str(pk) for pk in ids]


def deliver_endpoint(endpoint_id: str, *, now: datetime | None = None) -> int:
    """Attempt this endpoint's due deliveries in the order they came due (for fresh messages,
    the order they were recorded; a failed one is retried on its own schedule while later ones
    go on). Returns how many were attempted."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).first()
    if endpoint is None:
        return 0
    if endpoint.failing_since is not None and _waiting_for_retry(endpoint, now):
        return 0
    token = secrets.token_hex(8)
    claim = lease_seconds()
    lease = now + timedelta(seconds=claim)
    claimed_ids = list(due_deliveries(endpoint, now).values_list("pk", flat=True)[:BATCH])
    # Only rows still due: another task's claim made meanwhile is left to it.
    WebhookDelivery.objects.filter(pk__in=claimed_ids, next_attempt_at__lte=now).update(
        next_attempt_at=lease, lease_token=token
    )
    claimed = list(
        WebhookDelivery.objects.filter(pk__in=claimed_ids, lease_token=token)
        .select_related("message")
        .order_by("next_attempt_at", "created_at", "id")
    )
    count = 0
    successes = _Successes(endpoint, token)
    connections = Connections()
    try:
        for index, delivery in enumerate(claimed):
            if timezone.now() > lease - timedelta(seconds=claim / 2):
                # A long batch (slow answers): keep the rest of it ours for another lease.
                successes.write()
                lease = timezone.now() + timedelta(seconds=claim)
                WebhookDelivery.objects.filter(
                    pk__in=[d.pk for d in claimed[index:]], lease_token=token
                ).update(next_attempt_at=lease)
            sent_at = timezone.now()
            outcome = _send(delivery, endpoint, sent_at, connections)
            count += 1
            if outcome.succeeded:
                successes.add(delivery, outcome, sent_at)
                continue
            successes.write()
            _record(delivery, endpoint, outcome, now=sent_at, lease_token=token)
            if outcome.status_code is None:
                _hold_the_rest(endpoint, delivery, token)
                break
    finally:
        connections.close()
        successes.write()
    return count


def _hold_the_rest(endpoint: WebhookEndpoint, delivery: WebhookDelivery, token: str) -> None:
    """After an attempt that got no answer at all (down, hanging, refused): the rest of the
    batch would each wait out the same time limit. They go back unattempted and wait with the
    one that failed, so a dead endpoint costs one attempt per step of the retry schedule."""
    retry_at = delivery.next_attempt_at or timezone.now() + timedelta(seconds=RETRY_DELAYS[0])
    # The rest of this batch and the endpoint's other due deliveries: one statement.
    WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDeliveryStatus.PENDING).filter(
        Q(lease_token=token) | Q(next_attempt_at__lt=retry_at)
    ).exclude(pk=delivery.pk).update(next_attempt_at=retry_at, lease_token="")


def _waiting_for_retry(endpoint: WebhookEndpoint, now: datetime) -> bool:
    """An endpoint that is failing is probed with its oldest pending delivery, on that one's
    retry schedule; deliveries recorded meanwhile wait for the same moment instead of each
    costing an attempt. True (and nothing to attempt now) while the probe's time is ahead.
    A delivery another task holds (a live claim: its lease is no retry time) is no probe."""
    pending = WebhookDelivery.objects.filter(
        endpoint=endpoint, status=WebhookDeliveryStatus.PENDING
    ).exclude(~Q(lease_token="") & Q(next_attempt_at__gt=now))
    probe = pending.order_by("created_at", "id").values_list("next_attempt_at", flat=True).first()
    if probe is None or probe <= now:
        return False
    pending.filter(lease_token="", next_attempt_at__lt=probe).update(next_attempt_at=probe)
    return True


def attempt(
    delivery: WebhookDelivery, *, endpoint: WebhookEndpoint, lease_token: str = ""
) -> Attempt:
    """Send one attempt of `delivery` now and record it. With `lease_token`, the outcome is
    written only if this worker still holds the delivery."""
    now = timezone.now()
    outcome = _send(delivery, endpoint, now)
    _record(delivery, endpoint, outcome, now=now, lease_token=lease_token)
    return outcome


def _send(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    now: datetime,
    connections: Connections | None = None,
) -> Attempt:
    body = body_of(delivery.message.payload)
    try:
        target = resolve_target(endpoint.url)
    except WebhookUrlError as refused:
        # Checked again at every attempt: DNS may have changed since the endpoint was saved.
        return Attempt(None, "", f"not sent: {refused.message}", 0)
    headers = signed_headers(delivery.message_id, body, endpoint.signing_secrets(now), now)
    return send(target, body, headers, connections)


class _Successes:
    """A batch's delivered attempts, recorded together: one UPDATE (one commit) for up to
    RECORD_EVERY of them, or whatever was delivered within RECORD_WITHIN_SECONDS, instead of
    one each (on PostgreSQL each statement is a round trip and a commit). Written only where
    this worker still holds the delivery. A worker that dies before writing them leaves them
    to be sent again after the lease (at least once, with the same `webhook-id`), as a death
    between a send and its record always did."""

    def __init__(self, endpoint: WebhookEndpoint, lease_token: str) -> None:
        self.endpoint = endpoint
        self.lease_token = lease_token
        self.items: list[tuple[WebhookDelivery, Attempt, datetime]] = []
        self.since = 0.0

    def add(self, delivery: WebhookDelivery, outcome: Attempt, now: datetime) -> None:
        if not self.items:
            self.since = time.monotonic()
        self.items.append((delivery, outcome, now))
        if (
            len(self.items) >= RECORD_EVERY
            or time.monotonic() - self.since >= RECORD_WITHIN_SECONDS
        ):
            self.write()

    def write(self) -> None:
        if not self.items:
            return
        items, self.items = self.items, []

        def per_row(value: Callable[[Attempt, datetime], object], field: Field[Any, Any]) -> Any:
            """Each row's own value: one WHEN per distinct value (a status code or an empty
            body is usually the same for the whole batch; then no CASE at all)."""
            rows: dict[object, list[Any]] = {}
            for d, o, now in items:
                rows.setdefault(value(o, now), []).append(d.pk)
            if len(rows) == 1:
                return Value(next(iter(rows)), output_field=field)
            return Case(
                *(When(pk__in=pks, then=Value(v)) for v, pks in rows.items()), output_field=field
            )

        WebhookDelivery.objects.filter(
            pk__in=[d.pk for d, _, _ in items], lease_token=self.lease_token
        ).update(
            status=WebhookDeliveryStatus.SUCCEEDED,
            next_attempt_at=None,
            lease_token="",
            last_error="",
            attempts=F("attempts") + 1,
            # To the second, as the delivery log shows it: a batch's attempts then share one
            # or two values instead of a WHEN each.
            last_attempt_at=per_row(lambda o, now: now.replace(microsecond=0), DateTimeField()),
            last_status_code=per_row(lambda o, now: o.status_code, PositiveSmallIntegerField()),
            last_response=per_row(lambda o, now: o.excerpt, TextField()),
            last_duration_ms=per_row(lambda o, now: o.duration_ms, PositiveIntegerField()),
        )
        if self.endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=self.endpoint.pk, failing_since__isnull=False).update(
                failing_since=None
            )
            self.endpoint.failing_since = None
        for delivery, outcome, now in items:
            delivery.status = WebhookDeliveryStatus.SUCCEEDED
            delivery.attempts += 1
            delivery.last_attempt_at = now.replace(microsecond=0)
            delivery.last_status_code = outcome.status_code
            delivery.next_attempt_at = None


def _record(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    outcome: Attempt,
    *,
    now: datetime,
    lease_token: str,
) -> None:
    attempts = delivery.attempts + 1
    fields: dict[str, object] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_response": outcome.excerpt,
        "last_error": outcome.error,
        "last_duration_ms": outcome.duration_ms,
        "lease_token": "",
    }
    if outcome.succeeded:
        fields.update(status=WebhookDeliveryStatus.SUCCEEDED, next_attempt_at=None)
    elif attempts >= MAX_ATTEMPTS:
        fields.update(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None)
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=RETRY_DELAYS[attempts - 1])
    held = Q(pk=delivery.pk, lease_token=lease_token) if lease_token else Q(pk=delivery.pk)
    # Each statement its own commit (no transaction around them: on PostgreSQL that would be
    # two round trips more per attempt). The endpoint's failing state is written only when it
    # changes, as far as this batch knows (it loaded the endpoint): a healthy endpoint's
    # attempt is one statement. Another task's change the batch missed is seen by the next
    # task, which loads the endpoint afresh.
    if not WebhookDelivery.objects.filter(held).update(**fields):
        return  # another worker took it over (our lease ran out): its record stands
    if outcome.succeeded and endpoint.failing_since is not None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(
            failing_since=None
        )
        endpoint.failing_since = None
    elif not outcome.succeeded and endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
        endpoint.failing_since = now
    for name, value in fields.items():
        setattr(delivery, name, value)
    if not outcome.succeeded:
        logger.info(
            "webhook %s to endpoint %s failed (attempt %d): %s",
            delivery.message_id,
            endpoint.pk,
            attempts,
            outcome.error or f"HTTP {outcome.status_code}",
        )
        disable_if_failing_too_long(endpoint.pk, now=now)


def disable_if_failing_too_long(endpoint_id: uuid.UUID | str, *, now: datetime) -> bool:
    """Disable an endpoint that has failed every delivery for WEBHOOK_DISABLE_AFTER_DAYS and
    email its organization's owners, once (the conditional UPDATE picks one worker)."""
    since = now - timedelta(days=int(settings.WEBHOOK_DISABLE_AFTER_DAYS))
    reason = (
        f"Disabled on {now:%Y-%m-%d}: every delivery failed for "
        f"{settings.WEBHOOK_DISABLE_AFTER_DAYS} days."
    )
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, enabled=True, failing_since__lte=since
    ).update(enabled=False, disabled_reason=reason)
    if not disabled:
        return False
    endpoint = WebhookEndpoint.objects.select_related("organization").get(pk=endpoint_id)
    owners = sorted(
        set(
            User.objects.filter(
                memberships__organization_id=endpoint.organization_id,
                memberships__role=Role.OWNER,
                is_active=True,
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if owners:
        send_mail(
            f"Webhook endpoint disabled: {endpoint.url}",
            f"Every delivery to {endpoint.url} ({endpoint.organization.name}) has failed for "
            f"{settings.WEBHOOK_DISABLE_AFTER_DAYS} days, so DCVaaS stopped sending to it.\n\n"
            "Fix the endpoint, then enable it again on the Webhooks page; failed deliveries "
            "can be resent from its delivery log.\n",
            None,
            owners,
            fail_silently=True,
        )
    logger.warning("webhook endpoint %s disabled after failing for days", endpoint_id)
    return True
