"""Domain workflows: register, check, apply Cloudflare's answer, remove.

The rule everywhere: never call Cloudflare or DNS inside a database transaction. Write what we
intend first (so nothing is lost if the process dies), call out, then write the answer in a
short transaction. Every step is idempotent, so the sync loop can finish anything half done.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Organization, User
from billing.plans import organization_entitlements
from domains import dns
from domains.cloudflare import (
    CloudflareClient,
    CloudflareDeadlineError,
    CloudflareError,
    CloudflareInvalidHostnameError,
    CloudflareNotFoundError,
    CloudflareOriginNotEntitledError,
    CloudflareOriginRejectedError,
    CloudflareRateLimitedError,
    CloudflareTransientError,
    CustomHostname,
    cname_target,
)
from domains.errors import DomainError
from domains.events import domain_event, record_events, status_change_event
from domains.hostnames import Hostname, HostnameError, parse_hostname, registrable_domain
from domains.kick import kick
from domains.models import (
    DnsCheck,
    DnsHostDetection,
    Domain,
    DomainEventKind,
    DomainStatus,
    Origin,
    OriginState,
    ZoneEntitlement,
)
from domains.records import domain_check_records
from domains.schedule import push_heard, push_reschedule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    domain: Domain
    hostname: Hostname  # parsed: says whether it is an apex


@dataclass(frozen=True)
class CheckResult:
    domain: Domain
    dns: dns.CnameCheck
    cloudflare_error: str  # "" when Cloudflare answered
    records: DnsCheck | None = None  # every record, expected vs found


# ---------------------------------------------------------------------------------------------
# Registering
# ---------------------------------------------------------------------------------------------
def domain_register(
    *,
    organization: Organization,
    hostname: str,
    actor: User | None = None,
    origin: Origin | None = None,
) -> Registration:
    """Add `hostname` to `organization` and register it with Cloudflare, served by `origin`
    (None: the organization's default origin, if any).

    Raises `DomainError` (codes: the hostname parser's, `hostname_taken`, `plan_limit`,
    `unknown_origin`) before
    anything is sent anywhere. The plan limit holds under concurrent requests: the count and
    the insert happen under a lock on the organization row (PostgreSQL) or the database write
    lock (SQLite's IMMEDIATE transactions). If Cloudflare then fails or times out, the domain is
    kept as `registering` with the error and the sync loop finishes the registration.
    """
    try:
        parsed = parse_hostname(hostname, cname_target=cname_target())
    except HostnameError as error:
        raise DomainError(error.code, error.message, field="hostname") from error

    if origin is not None and (
        origin.organization_id != organization.pk or origin.state == OriginState.DELETING
    ):
        raise DomainError("unknown_origin", "No such origin.", field="origin")
    try:
        with transaction.atomic():
            org = Organization.objects.select_for_update().get(pk=organization.pk)
            # The more specific truth first: a hostname already here is "already added" (or
            # "taken"), whatever the plan's limit says.
            holder = (
                Domain.objects.filter(hostname=parsed.name)
                .values_list("organization_id", flat=True)
                .first()
            )
            if holder is not None:
                raise _taken(parsed.name, mine=holder == org.pk)
            count = Domain.objects.filter(organization=org).count()
            entitlements = organization_entitlements(org, domain_count=count)
            if not entitlements.can_add_domain:
                raise DomainError(
                    "plan_limit",
                    f"Your {entitlements.plan.name} plan allows {entitlements.domain_limit} "
                    f"domains and you have {count}. Upgrade your plan or remove a domain.",
                    field="hostname",
                )
            domain = Domain.objects.create(
                organization=org,
                hostname=parsed.name,
                status=DomainStatus.REGISTERING,
                dns_records=initial_records(parsed),
                # If this process dies before Cloudflare answers, the sync loop takes over.
                next_sync_at=timezone.now() + timedelta(seconds=30),
                origin=origin,
            )
            serving = domain.serving_origin()
            if serving is not None and serving.is_serving:
                domain.origin_server = serving.record_name
                Domain.objects.filter(pk=domain.pk).update(origin_server=serving.record_name)
            record_events(
                [
                    domain_event(
                        domain,
                        DomainEventKind.CREATED,
                        message=f"Added by {actor.username}" if actor else "Added",
                        to_status=DomainStatus.REGISTERING,
                    )
                ]
            )
            audit(org.pk, "domain.added", target=domain, target_label=domain.hostname, actor=actor)
    except IntegrityError as error:
        # The unique constraint on hostname is the real guard (two requests at once).
        mine = Domain.objects.filter(organization=organization, hostname=parsed.name).exists()
        raise _taken(parsed.name, mine=mine) from error

    # A person is waiting: Cloudflare gets a few seconds, the sync loop finishes the rest.
    registered = domain_finish_registration(domain=domain, client=CloudflareClient.interactive())
    _schedule_first_check(registered)
    kick("domains.detect_dns_host", domain_id=str(domain.pk))
    return Registration(domain=registered, hostname=parsed)


def _taken(hostname: str, *, mine: bool) -> DomainError:
    if mine:
        return DomainError(
            "already_added", f"{hostname} is already one of your domains.", field="hostname"
        )
    return DomainError(
        "hostname_taken",
        f"{hostname} is already connected to DCVaaS by another organization. If it should be "
        "yours, ask them to remove it, or contact support.",
        field="hostname",
    )


def _schedule_first_check(domain: Domain) -> None:
    """A registration leaves the domain's first check 30 s away, to fetch the validation records
    Cloudflare had not issued yet. When they came with the answer and push is reporting the
    certificate's steps (`push_heard`), the answer counts as the check and the next one follows
    push's pace (`push_reschedule`)."""
    if domain.status != DomainStatus.PENDING or domain.ssl_status == "initializing":
        return
    now = timezone.now()
    if push_heard(now):
        push_reschedule(domain, now)


def domain_finish_registration(
    *, domain: Domain, priority: str = "user", client: CloudflareClient | None = None
) -> Domain:
    """Register `domain` with Cloudflare (or adopt the hostname Cloudflare already has).

    Idempotent: Cloudflare's duplicate answer is turned into adoption by the client, so a retry
    after a lost response never creates a second Cloudflare hostname. Transient failures are
    recorded on the domain and left for the sync loop; never raises for Cloudflare trouble.
    `client` lets the sync loop count the calls and bound the wait for the rate budget.
    """
    client = client or CloudflareClient()
    server = "" if ZoneEntitlement.custom_origins_refusal() else domain.origin_server
    try:
        try:
            remote = client.create(
                domain.hostname,
                method=domain.ssl_method,
                priority=priority,  # type: ignore[arg-type]
                custom_origin_server=server,
            )
        except (CloudflareOriginNotEntitledError, CloudflareOriginRejectedError) as error:
            # The domain is registered on the fallback origin now; the origins' background
            # step moves it to its origin once that can work.
            if isinstance(error, CloudflareOriginNotEntitledError):
                ZoneEntitlement.refuse_custom_origins(str(error))
            else:
                Origin.objects.mark_record_missing(server)
            remote = client.create(domain.hostname, method=domain.ssl_method, priority=priority)  # type: ignore[arg-type]
    except CloudflareInvalidHostnameError as error:
        # Our validation should have caught it; Cloudflare's word is final.
        return _record_error(domain, f"Cloudflare refused the hostname: {error}", retry=False)
    except CloudflareError as error:
        return _record_error(domain, describe_error(error), retry=True)
    domain = domain_apply_remote(domain=domain, remote=remote)
    return domain


def describe_error(error: CloudflareError) -> str:
    """Cloudflare trouble in words for the domain page and its history."""
    if isinstance(error, CloudflareRateLimitedError):
        seconds = math.ceil(error.retry_after or 0)
        wait = f" in about {seconds} second{'s' if seconds != 1 else ''}" if seconds else ""
        return f"Cloudflare is rate limiting our requests right now. We will retry{wait}."
    if isinstance(error, CloudflareDeadlineError):
        return (
            "Cloudflare did not answer within a few seconds. We are finishing this in the "
            "background."
        )
    if isinstance(error, CloudflareTransientError):
        return f"Cloudflare is unreachable or failing right now ({error}). We will retry."
    return f"Cloudflare refused the request: {error}"


def _record_error(domain: Domain, message: str, *, retry: bool) -> Domain:
    now = timezone.now()
    with transaction.atomic():
        updates: dict[str, Any] = {"last_error": message, "updated_at": now}
        if retry:
            updates["next_sync_at"] = now + timedelta(seconds=60)
            updates["sync_attempts"] = domain.sync_attempts + 1
        Domain.objects.filter(pk=domain.pk).update(**updates)
        record_events([domain_event(domain, DomainEventKind.ERROR, message=message)])
    for name, value in updates.items():
        setattr(domain, name, value)
    logger.warning("domain %s (%s): %s", domain.pk, domain.hostname, message)
    return domain


# ---------------------------------------------------------------------------------------------
# Applying Cloudflare's answer
# ---------------------------------------------------------------------------------------------
def initial_records(parsed: Hostname) -> list[dict[str, Any]]:
    """Before Cloudflare answers, the one record we already know: the CNAME."""
    return [_cname_record(parsed.name)]


def _relative(name: str, registrable: str) -> str:
    if name == registrable:
        return "@"
    return name.removesuffix("." + registrable) if name.endswith("." + registrable) else name


def _cname_record(hostname: str, registrable: str = "") -> dict[str, Any]:
    return {
        "type": "CNAME",
        "name": hostname,
        "host": _relative(hostname, registrable or registrable_domain(hostname)),
        "value": cname_target(),
        "required": True,
        "purpose": "Sends your customer's traffic to us and proves the hostname is theirs.",
    }


def records_for(hostname: str, remote: CustomHostname) -> list[dict[str, Any]]:
    """The DNS records to show: the CNAME, plus the TXT records Cloudflare asks for."""
    registrable = registrable_domain(hostname)
    records = [_cname_record(hostname, registrable)]
    if remote.ownership_txt is not None:
        records.append(
            {
                "type": "TXT",
                "name": remote.ownership_txt.name,
                "host": _relative(remote.ownership_txt.name, registrable),
                "value": remote.ownership_txt.value,
                "required": False,
                "purpose": "Optional: proves ownership before the CNAME is switched, "
                "for a move without downtime.",
            }
        )
    for txt in remote.validation_txt:
        records.append(
            {
                "type": "TXT",
                "name": txt.name,
                "host": _relative(txt.name, registrable),
                "value": txt.value,
                "required": remote.ssl_method == "txt",
                "purpose": "Lets the certificate be issued before traffic moves"
                + ("." if remote.ssl_method == "txt" else " (optional with the CNAME in place)."),
            }
        )
    return records


def status_from_remote(remote: CustomHostname) -> DomainStatus:
    """Our summary of Cloudflare's two state machines. Active only when both are active.

    Needs attention (failed) whenever someone must act: Cloudflare stopped (blocked, moved, a
    timeout), the certificate expired, or the certificate authority reports a problem at the
    customer's DNS (a CAA record, a nameserver failing). Pending means waiting is enough.
    """
    if remote.is_active:
        return DomainStatus.ACTIVE
    if (
        remote.status in ("blocked", "moved")
        or remote.ssl_status.endswith("_timed_out")
        or remote.ssl_status == "expired"
        or remote.validation_errors
    ):
        return DomainStatus.FAILED
    return DomainStatus.PENDING


def remote_fields(domain: Domain, remote: CustomHostname, now: datetime) -> dict[str, Any]:
    """The columns Cloudflare's answer sets on `domain` (one source for the single-domain
    services and the sync loop's bulk writes). A domain being removed keeps `deleting`."""
    status = domain.status if domain.status == DomainStatus.DELETING else status_from_remote(remote)
    fields: dict[str, Any] = {
        "cloudflare_id": remote.id,
        "cloudflare_status": remote.status,
        "ssl_status": remote.ssl_status,
        "ssl_method": remote.ssl_method or domain.ssl_method,
        "verification_errors": list(remote.verification_errors),
        "validation_errors": list(remote.validation_errors),
        "dns_records": records_for(domain.hostname, remote),
        "certificate_issuer": remote.certificate_issuer or "",
        "certificate_expires_at": remote.certificate_expires_at,
        "status": status,
        "last_error": "",
        "activated_at": domain.activated_at,
        "moved_refresh_at": domain.moved_refresh_at,
        "origin_applied": remote.custom_origin_server,
    }
    if status == DomainStatus.ACTIVE:
        fields["activated_at"] = domain.activated_at or now
        # Active again: a later `moved` deserves its own refresh.
        fields["moved_refresh_at"] = None
    return fields


@functools.cache
def remote_field_names() -> tuple[str, ...]:
    """The columns `remote_fields` sets, whatever the answer (for bulk writes of answers)."""
    blank = CustomHostname(
        id="",
        hostname="",
        status="",
        ssl_status="",
        ssl_method="",
        verification_errors=(),
        ownership_txt=None,
        ownership_http=None,
        validation_txt=(),
        validation_http=(),
        validation_cname=(),
        validation_errors=(),
        certificate_issuer=None,
        certificate_expires_at=None,
        created_at=None,
    )
    return tuple(remote_fields(Domain(hostname="example.com"), blank, timezone.now()))


def domain_apply_remote(*, domain: Domain, remote: CustomHostname) -> Domain:
    """Write Cloudflare's state onto `domain` and record an event for each real change.

    Safe to call twice with the same answer, and from two processes at once (a request and
    the sync loop finishing the same registration): the events are decided against the row as
    it is under a lock, not against the caller's copy, so only the first records anything. A
    domain that is being removed keeps its `deleting` status.
    """
    now = timezone.now()
    with transaction.atomic():
        current = (
            Domain.objects.select_for_update()
            .filter(pk=domain.pk)
            .values(
                "status",
                "cloudflare_id",
                "cloudflare_status",
                "ssl_status",
                "activated_at",
                "moved_refresh_at",
            )
            .first()
        )
        if current is None:  # removed meanwhile: nothing to write
            return domain
        for name, value in current.items():
            setattr(domain, name, value)
        before = (domain.status, domain.cloudflare_status, domain.ssl_status)
        fields = remote_fields(domain, remote, now)
        fields["last_synced_at"] = now
        new_status = fields["status"]
        events = []
        if not domain.cloudflare_id and domain.status == DomainStatus.REGISTERING:
            events.append(
                domain_event(
                    domain,
                    DomainEventKind.REGISTERED,
                    message=f"Registered with Cloudflare as {remote.id}"
                    + (
                        f", after deleting {remote.replaced_id}, which Cloudflare kept as "
                        "deleted under the same name"
                        if remote.replaced_id
                        else ""
                    ),
                    data={"cloudflare_id": remote.id, "replaced_id": remote.replaced_id},
                )
            )
        after = (new_status, remote.status, remote.ssl_status)
        if after != before:
            events.append(
                status_change_event(domain, before=before, to_status=new_status, remote=remote)
            )
        Domain.objects.filter(pk=domain.pk).update(updated_at=now, **fields)
        # The domain as it now is: the webhooks these events owe carry it.
        for name, value in {**fields, "updated_at": now}.items():
            setattr(domain, name, value)
        record_events(events)
    return domain


# ---------------------------------------------------------------------------------------------
# Check now
# ---------------------------------------------------------------------------------------------
def domain_check_now(*, domain: Domain, actor: User | None = None) -> CheckResult:
    """Look up the CNAME ourselves, ask Cloudflare to re-validate, and show the result.

    Throttled per domain (settings.CHECK_NOW_INTERVAL seconds, in the shared cache): a second
    request inside the interval raises `DomainError("throttled", retry_after=...)`.
    """
    interval = int(settings.CHECK_NOW_INTERVAL)
    if not cache.add(f"check-now:{domain.pk}", timezone.now().timestamp(), timeout=interval):
        raise DomainError(
            "throttled",
            f"{domain.hostname} was checked moments ago. Try again in {interval} seconds.",
            retry_after=interval,
        )
    found = dns.check_cname(domain.hostname, cname_target())
    record_events(
        [
            domain_event(
                domain,
                DomainEventKind.CHECK_REQUESTED,
                message=found.message,
                data={"dns": str(found.verdict), "by": actor.username if actor else ""},
            )
        ]
    )
    cloudflare_error = ""
    if domain.status == DomainStatus.REGISTERING:
        domain = domain_finish_registration(domain=domain, client=CloudflareClient.interactive())
        cloudflare_error = domain.last_error
    elif domain.cloudflare_id and domain.status != DomainStatus.DELETING:
        domain, cloudflare_error = _revalidate(domain)
    Domain.objects.filter(pk=domain.pk).update(next_sync_at=timezone.now() + timedelta(seconds=30))
    # Every record, as the person who made them wants to know (the CNAME's lookup reused).
    checked = domain_check_records(domain, cname=found)
    # The person may have moved the domain to another DNS host meanwhile.
    kick("domains.detect_dns_host", domain_id=str(domain.pk))
    return CheckResult(domain=domain, dns=found, cloudflare_error=cloudflare_error, records=checked)


def domain_detect_dns_host(domain_id: Any) -> DnsHostDetection | None:
    """Look up where the domain's DNS is hosted and keep the answer (idempotent; DNS lookups
    outside any transaction). None once the domain is gone."""
    hostname = Domain.objects.filter(pk=domain_id).values_list("hostname", flat=True).first()
    if hostname is None:
        return None
    found = dns.detect_host(hostname)
    fields = {
        "zone": found.zone,
        "host": found.host.key if found.host else "",
        "confidence": str(found.confidence),
        "nameservers": list(found.nameservers),
        "problem": found.problem[:500],
        "checked_at": timezone.now(),
    }
    try:
        with transaction.atomic():
            detection, _ = DnsHostDetection.objects.update_or_create(
                domain_id=domain_id, defaults=fields
            )
    except IntegrityError:
        return None  # removed while we looked
    return detection


def _revalidate(domain: Domain) -> tuple[Domain, str]:
    """Check now's Cloudflare half: (the domain as it is now, an error for the page or "")."""
    client = CloudflareClient.interactive()
    remote: CustomHostname | None
    try:
        if domain.status == DomainStatus.ACTIVE:
            remote = client.get(domain.cloudflare_id)
        else:
            # PATCH with the same method restarts Cloudflare's validation backoff.
            remote = client.refresh(domain.cloudflare_id, method=domain.ssl_method or None)
    except CloudflareNotFoundError:
        remote = None
    except CloudflareError as error:
        message = describe_error(error)
        return _record_error(domain, message, retry=True), message
    if remote is None or remote.is_gone:
        # Cloudflare lost it, or keeps it only as deleted: register it again.
        domain = domain_finish_registration(domain=domain_forget_remote(domain), client=client)
        return domain, domain.last_error
    return domain_apply_remote(domain=domain, remote=remote), ""


def domain_forget_remote(domain: Domain) -> Domain:
    """Cloudflare lost the hostname: go back to registering so it is registered again."""
    with transaction.atomic():
        now = timezone.now()
        Domain.objects.filter(pk=domain.pk).update(
            cloudflare_id="",
            status=DomainStatus.REGISTERING,
            cloudflare_status="deleted",
            updated_at=now,
        )
        record_events(
            [
                domain_event(
                    domain,
                    DomainEventKind.STATUS_CHANGED,
                    from_status=domain.status,
                    to_status=DomainStatus.REGISTERING,
                    message="Cloudflare no longer had this hostname; registering it again.",
                )
            ]
        )
    domain.cloudflare_id = ""
    domain.status = DomainStatus.REGISTERING
    domain.cloudflare_status = "deleted"
    domain.updated_at = now
    return domain


# ---------------------------------------------------------------------------------------------
# Removing
# ---------------------------------------------------------------------------------------------
def domain_delete(*, domain: Domain, actor: User | None = None) -> Domain | None:
    """Offboard `domain` from Cloudflare and remove it. Returns None once it is gone.

    The intent is written first (`deleting`), so a crash or a Cloudflare failure leaves a
    domain the sync loop keeps retrying, never a Cloudflare hostname we forgot. The plan slot
    is freed when the row goes.
    """
    if domain.status != DomainStatus.DELETING:
        with transaction.atomic():
            Domain.objects.filter(pk=domain.pk).update(
                status=DomainStatus.DELETING,
                next_sync_at=timezone.now() + timedelta(seconds=60),
                updated_at=timezone.now(),
            )
            record_events(
                [
                    domain_event(
                        domain,
                        DomainEventKind.DELETING,
                        from_status=domain.status,
                        to_status=DomainStatus.DELETING,
                        message=f"Removal requested by {actor.username}"
                        if actor
                        else "Removal requested",
                    )
                ]
            )
            audit(
                domain.organization_id,
                "domain.removed",
                target=domain,
                target_label=domain.hostname,
                actor=actor,
            )
        domain.status = DomainStatus.DELETING
    return domain_finish_deletion(domain=domain, client=CloudflareClient.interactive())


def domain_finish_deletion(
    *, domain: Domain, priority: str = "user", client: CloudflareClient | None = None
) -> Domain | None:
    """Delete the Cloudflare hostname (found by id, or by name if the registration's answer was
    lost), then the row. Idempotent; Cloudflare failures are recorded and retried later."""
    client = client or CloudflareClient()
    try:
        remote_id = domain.cloudflare_id
        if not remote_id:
            found = client.find_by_hostname(domain.hostname, priority=priority)  # type: ignore[arg-type]
            remote_id = found.id if found is not None else ""
        if remote_id:
            client.delete(remote_id, priority=priority)  # type: ignore[arg-type]
    except CloudflareError as error:
        _record_error(domain, describe_error(error), retry=True)
        return domain
    with transaction.atomic():
        # Another worker (the request that asked, or the sync loop) may be finishing the same
        # removal: the row's lock makes the second wait, then find it gone and stop, instead of
        # recording a second "removed" event for a row that no longer exists.
        if not Domain.objects.select_for_update().filter(pk=domain.pk).exists():
            return None
        # The history outlives the row: deleting it sets the events' domain to NULL.
        record_events(
            [
                domain_event(
                    domain,
                    DomainEventKind.DELETED,
                    from_status=DomainStatus.DELETING,
                    message="Removed from Cloudflare and from DCVaaS.",
                    data={"domain_id": str(domain.pk), "cloudflare_id": domain.cloudflare_id},
                )
            ]
        )
        Domain.objects.filter(pk=domain.pk).delete()
    return None
