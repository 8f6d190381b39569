"""Origins: where an organization's customers' traffic goes.

Each origin is one proxied DNS record in our SaaS zone (`Origin.record_name`, a random name),
a CNAME to the app's hostname or an A/AAAA to its address. A domain is served by its chosen
origin, else the organization's default, else the zone's fallback origin; at Cloudflare that is
the hostname's `custom_origin_server`. Changing an origin's address is one DNS record change;
moving domains, a new default or a removal PATCHes the hostnames concerned, in the background.

The database says what should be (`Domain.origin_server`, `Origin.address`); the background
step (`origins_sync`, run by a Celery task after each change and every minute) makes Cloudflare
match, one idempotent step at a time, so a crash anywhere is finished by the next run:

- a record is written before any hostname points at it (a domain's target only becomes a
  record's name once the record exists);
- a record is removed only when no domain points, or is to point, at it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Organization
from billing.plans import organization_entitlements
from domains.cloudflare import (
    CloudflareClient,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflareOriginNotEntitledError,
    CloudflareOriginRejectedError,
    CloudflarePermanentError,
    CloudflareRateLimitedError,
    DnsRecord,
)
from domains.errors import DomainError
from domains.events import domain_event, record_events
from domains.kick import kick
from domains.models import (
    Domain,
    DomainEventKind,
    DomainStatus,
    Origin,
    OriginState,
    ZoneEntitlement,
    new_origin_key,
)
from domains.origins.address import check_resolution, parse_origin_address

logger = logging.getLogger("domains.origins")

MAX_NAME = 100
MARKER_PREFIX = "dcvaas:origin="  # `Origin.marker` is this and the origin's id
# Hostnames PATCHed per run of the background step; the next run (kicked at once) goes on.
APPLY_BATCH = 200
# Hostnames whose new state is written together.
WRITE_BATCH = 50
RETRY_SECONDS = (30, 60, 120, 300, 600)


# ---------------------------------------------------------------------------------------------
# The zone's entitlement (Cloudflare's 1414): `ZoneEntitlement`
# ---------------------------------------------------------------------------------------------
def custom_origins_allow() -> None:
    """Staff: try custom origins again (after Cloudflare granted the entitlement)."""
    ZoneEntitlement.allow_custom_origins()
    kick_origins()


# ---------------------------------------------------------------------------------------------
# What people do: add, change, make default, remove; choose a domain's origin
# ---------------------------------------------------------------------------------------------
def _checked_name(name: object, organization: Organization, *, exclude: Origin | None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DomainError("required", "Give the origin a name, like “Production”.", field="name")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise DomainError(
            "max_length", f"Keep the name under {MAX_NAME + 1} characters.", field="name"
        )
    taken = Origin.objects.filter(organization=organization, name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise DomainError("name_taken", f"You already have an origin named “{name}”.", field="name")
    return name


def _checked_address(raw: object) -> str:
    address = parse_origin_address(raw)
    check_resolution(address)
    return address.value


def record_name() -> str:
    zone = settings.CLOUDFLARE_ZONE_NAME.rstrip(".").lower()
    return f"{new_origin_key()}.{settings.CLOUDFLARE_ORIGINS_SUBDOMAIN}.{zone}"


def origin_create(
    *, organization: Organization, name: object, address: object, make_default: bool = False
) -> Origin:
    """Add an origin (the organization's default if it is the first). Its DNS record is
    written in the background. Raises `DomainError` (the address checks' codes, `required`,
    `name_taken`, `plan_limit`)."""
    checked_address = _checked_address(address)
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        checked_name = _checked_name(name, org, exclude=None)
        plan = organization_entitlements(
            org, domain_count=Domain.objects.filter(organization=org).count()
        ).plan
        live = Origin.objects.filter(organization=org).exclude(state=OriginState.DELETING)
        count = live.count()
        if count >= plan.origin_limit:
            raise DomainError(
                "plan_limit",
                f"Your {plan.name} plan allows {plan.origin_limit} "
                f"origin{'s' if plan.origin_limit != 1 else ''}. Remove one or upgrade your plan.",
            )
        default = make_default or not live.filter(is_default=True).exists()
        if default:
            Origin.objects.filter(organization=org, is_default=True).update(is_default=False)
        origin = Origin.objects.create(
            organization=org,
            name=checked_name,
            address=checked_address,
            is_default=default,
            record_name=record_name(),
            next_attempt_at=timezone.now(),
        )
        audit(org.pk, "origin.created", target=origin, changes={"address": [None, origin.address]})
        kick_origins()
    return origin


def origin_update(*, origin: Origin, name: object = None, address: object = None) -> Origin:
    """Rename it and/or change its address: one DNS record change, whatever number of domains
    it serves (done in the background)."""
    updates: dict[str, object] = {}
    if name is not None:
        updates["name"] = _checked_name(name, origin.organization, exclude=origin)
    if address is not None:
        checked = _checked_address(address)
        if checked != origin.address:
            updates.update(
                address=checked,
                state=OriginState.PENDING,
                attempts=0,
                last_error="",
                next_attempt_at=timezone.now(),
            )
    if updates:
        with transaction.atomic():
            changed = (
                Origin.objects.filter(pk=origin.pk)
                .exclude(state=OriginState.DELETING)
                .update(updated_at=timezone.now(), **updates)
            )
            if not changed:
                raise DomainError("deleting", "This origin is being removed.")
            audit(
                origin.organization_id,
                "origin.changed",
                target=origin,
                changes={
                    field: [getattr(origin, field), value]
                    for field, value in updates.items()
                    if field in ("name", "address")
                },
            )
            kick_origins()
        origin.refresh_from_db()
    return origin


def origin_make_default(*, origin: Origin) -> Origin:
    """Make it the default: the domains that follow the default move to it."""
    if origin.state == OriginState.DELETING:
        raise DomainError("deleting", "This origin is being removed.")
    with transaction.atomic():
        Origin.objects.filter(organization_id=origin.organization_id, is_default=True).exclude(
            pk=origin.pk
        ).update(is_default=False)
        Origin.objects.filter(pk=origin.pk).update(is_default=True)
        origins_retarget(origin.organization_id)
        kick_origins()
    origin.refresh_from_db()
    return origin


@dataclass(frozen=True)
class OriginUse:
    chosen: int  # domains that chose this origin
    following: int  # domains that follow the default, when it is the default

    @property
    def total(self) -> int:
        return self.chosen + self.following


def origin_use(origin: Origin) -> OriginUse:
    chosen = Domain.objects.filter(origin=origin).count()
    following = (
        Domain.objects.filter(organization_id=origin.organization_id, origin__isnull=True).count()
        if origin.is_default
        else 0
    )
    return OriginUse(chosen, following)


def origin_delete(*, origin: Origin) -> Origin:
    """Remove it: refused while domains chose it, or while it is the default beside other
    origins. The last origin may go with domains following it: they go back to the zone's
    fallback origin first, then the record is removed (in the background)."""
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=origin.organization_id)
        origin = Origin.objects.get(pk=origin.pk)
        chosen = Domain.objects.filter(origin=origin).count()
        if chosen:
            raise DomainError(
                "in_use",
                f"{chosen} domain{'s are' if chosen != 1 else ' is'} served by this origin. "
                "Move them to another origin first.",
            )
        others = (
            Origin.objects.filter(organization=org)
            .exclude(pk=origin.pk)
            .exclude(state=OriginState.DELETING)
        )
        if origin.is_default and others.exists():
            raise DomainError(
                "default_in_use",
                "This is your default origin. Make another origin the default first: the "
                "domains that follow the default move with it.",
            )
        Origin.objects.filter(pk=origin.pk).update(
            state=OriginState.DELETING,
            is_default=False,
            attempts=0,
            last_error="",
            next_attempt_at=timezone.now(),
        )
        origins_retarget(org.pk)
        audit(org.pk, "origin.removed", target=origin)
        kick_origins()
    origin.refresh_from_db()
    return origin


def domain_set_origin(*, domain: Domain, origin: Origin | None) -> Domain:
    """Serve `domain` from `origin` (None: the organization's default). The hostname follows
    in the background."""
    if origin is not None and (
        origin.organization_id != domain.organization_id or origin.state == OriginState.DELETING
    ):
        raise DomainError("unknown_origin", "No such origin.", field="origin")
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).update(origin=origin, updated_at=timezone.now())
        origins_retarget(domain.organization_id)
        kick_origins()
    domain.refresh_from_db()
    return domain


# ---------------------------------------------------------------------------------------------
# Targets: what each domain's hostname should point at
# ---------------------------------------------------------------------------------------------
def origins_retarget(organization_id: int) -> int:
    """Set each domain's `origin_server` to its origin's record name, where that record exists
    (until then a domain keeps pointing where it did). Returns how many domains changed.
    A few statements: one per origin and one for the default's followers."""
    origins = list(Origin.objects.filter(organization_id=organization_id))
    changed = 0
    for origin in origins:
        if origin.is_serving:
            changed += (
                Domain.objects.filter(origin=origin)
                .exclude(origin_server=origin.record_name)
                .update(origin_server=origin.record_name)
            )
    default = next((o for o in origins if o.is_default and o.state != OriginState.DELETING), None)
    followers = Domain.objects.filter(organization_id=organization_id, origin__isnull=True)
    if default is None:
        changed += followers.exclude(origin_server="").update(origin_server="")
    elif default.is_serving:
        changed += followers.exclude(origin_server=default.record_name).update(
            origin_server=default.record_name
        )
    return changed


def kick_origins() -> None:
    """Ask a worker to bring Cloudflare in line now, once the transaction commits."""
    kick("domains.sync_origins")


# ---------------------------------------------------------------------------------------------
# The background step
# ---------------------------------------------------------------------------------------------
@dataclass
class SyncReport:
    records_written: int = 0
    records_deleted: int = 0
    hostnames_patched: int = 0
    failed: int = 0
    remaining: int = 0  # hostnames still to PATCH after this run
    errors: list[str] = field(default_factory=list)


def origins_sync(*, client: CloudflareClient | None = None, limit: int = APPLY_BATCH) -> SyncReport:
    """One run: write due records, then PATCH up to `limit` hostnames whose target moved, then
    remove records nothing uses. Never raises for Cloudflare trouble: a rate limit ends the run
    (the next one continues), a failure is recorded and retried with backoff."""
    client = client or CloudflareClient()
    report = SyncReport()
    now = timezone.now()
    due = Origin.objects.filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True),
        state__in=(OriginState.PENDING, OriginState.DELETING),
    ).order_by("next_attempt_at")
    try:
        for origin in due.filter(state=OriginState.PENDING):
            _sync_record(origin, client, report)
        _apply_hostnames(client, report, limit)
        for origin in due.filter(state=OriginState.DELETING):
            _remove(origin, client, report)
    except CloudflareRateLimitedError as error:
        report.errors.append(str(error))
    report.remaining = _outdated().count()
    return report


def _record_for(origin: Origin) -> tuple[str, str]:
    address = parse_origin_address(origin.address)
    return address.record_type, address.value


def _sync_record(origin: Origin, client: CloudflareClient, report: SyncReport) -> None:
    """Make the origin's DNS record say what its address says (create, adopt, PATCH or PUT)."""
    type_, content = _record_for(origin)
    try:
        record: DnsRecord | None = None
        if origin.record_id:
            try:
                if origin.record_type != type_:
                    record = client.dns_record_update(
                        origin.record_id,
                        type_=type_,
                        name=origin.record_name,
                        content=content,
                        comment=origin.marker,
                    )
                elif origin.record_content != content:
                    record = client.dns_record_set_content(origin.record_id, content)
                else:
                    record = None  # already what Cloudflare has
            except CloudflareNotFoundError:
                origin.record_id = ""  # deleted at Cloudflare: write it again below
        if not origin.record_id:
            record = _adopt_or_create(origin, client, type_, content)
    except CloudflareRateLimitedError:
        raise
    except CloudflareError as error:
        _origin_failed(origin, error, report)
        return
    with transaction.atomic():
        updates = {
            "state": OriginState.READY,
            "attempts": 0,
            "last_error": "",
            "next_attempt_at": None,
            "updated_at": timezone.now(),
        }
        if record is not None:
            updates.update(record_id=record.id, record_type=record.type, record_content=content)
        # Only if nobody changed the address meanwhile: else it stays due, for the next run.
        done = Origin.objects.filter(
            pk=origin.pk, address=origin.address, state=OriginState.PENDING
        ).update(**updates)
        if not done and record is not None:
            Origin.objects.filter(pk=origin.pk).update(
                record_id=record.id, record_type=record.type, record_content=content
            )
        origins_retarget(origin.organization_id)
    report.records_written += 1
    logger.info("origins: record %s -> %s %s", origin.record_name, type_, content)


def _adopt_or_create(
    origin: Origin, client: CloudflareClient, type_: str, content: str
) -> DnsRecord:
    """The record under the origin's name: ours if a run died after writing it (found by our
    comment), else a new one. A record of that name that is not ours is never touched."""
    existing = client.dns_records(name=origin.record_name)
    ours = [r for r in existing if r.comment == origin.marker]
    if len(ours) < len(existing):
        raise CloudflarePermanentError(
            f"A DNS record not written by DCVaaS already holds the name {origin.record_name}."
        )
    for extra in ours[1:]:
        client.dns_record_delete(extra.id)
    if ours:
        record = ours[0]
        if record.type != type_ or record.content != content or not record.proxied:
            record = client.dns_record_update(
                record.id,
                type_=type_,
                name=origin.record_name,
                content=content,
                comment=origin.marker,
            )
        return record
    return client.dns_record_create(
        type_=type_, name=origin.record_name, content=content, comment=origin.marker
    )


def _origin_failed(origin: Origin, error: CloudflareError, report: SyncReport) -> None:
    attempts = origin.attempts + 1
    permanent = isinstance(error, CloudflarePermanentError)
    delay = RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1]
    Origin.objects.filter(pk=origin.pk).update(
        attempts=attempts,
        last_error=str(error),
        # A refusal is final until the origin changes; a deletion keeps being retried.
        state=OriginState.FAILED
        if permanent and origin.state == OriginState.PENDING
        else origin.state,
        next_attempt_at=None
        if permanent and origin.state == OriginState.PENDING
        else timezone.now() + timedelta(seconds=delay),
    )
    report.failed += 1
    report.errors.append(f"{origin.record_name}: {error}")
    logger.warning("origins: %s (%s): %s", origin.pk, origin.record_name, error)


def _outdated() -> QuerySet[Domain]:
    """Registered domains whose hostname does not point where it should."""
    return (
        Domain.objects.exclude(origin_server=F("origin_applied"))
        .exclude(cloudflare_id="")
        .exclude(status__in=(DomainStatus.REGISTERING, DomainStatus.DELETING))
    )


def _apply_hostnames(client: CloudflareClient, report: SyncReport, limit: int) -> None:
    """PATCH the hostnames whose target moved (through the shared budget, at bulk priority),
    writing what Cloudflare then has in a few statements per batch, not per hostname. A run
    that dies between a PATCH and its write PATCHes that hostname again next time (the PATCH
    is idempotent)."""
    if ZoneEntitlement.custom_origins_refusal():
        return
    sni_mode = str(settings.CLOUDFLARE_ORIGIN_SNI)
    domains = list(_outdated().order_by("updated_at")[:limit])
    # Only the origins these hostnames move to (or from), not every tenant's.
    names = {d.origin_server for d in domains} | {d.origin_applied for d in domains}
    origins = {
        o.record_name: o
        for o in Origin.objects.filter(record_name__in=names - {""}).only(
            "record_name", "name", "address"
        )
    }
    done: list[tuple[Domain, str]] = []
    try:
        for domain in domains:
            server = domain.origin_server
            address = origins[server].address if server in origins else ""
            try:
                remote = client.set_origin(
                    domain.cloudflare_id, server, sni=_sni(sni_mode, address)
                )
            except CloudflareOriginNotEntitledError as error:
                ZoneEntitlement.refuse_custom_origins(str(error))
                return
            except CloudflareNotFoundError:
                continue  # gone at Cloudflare: the sync loop registers it again
            except CloudflareOriginRejectedError as error:
                if error.code == 1421:
                    Origin.objects.mark_record_missing(server)  # have the record written again
                else:
                    # 1415-1420: Cloudflare will never take this name; say why, on the origin.
                    Origin.objects.filter(record_name=server).update(
                        state=OriginState.FAILED, last_error=error.user_message
                    )
                report.errors.append(f"{domain.hostname}: {error}")
                report.failed += 1
                continue
            except CloudflareRateLimitedError:
                raise
            except CloudflareError as error:
                report.errors.append(f"{domain.hostname}: {error}")
                report.failed += 1
                continue
            done.append((domain, remote.custom_origin_server))
            if len(done) >= WRITE_BATCH:
                _write_applied(done, origins)
                report.hostnames_patched += len(done)
                done = []
    finally:
        if done:
            _write_applied(done, origins)
            report.hostnames_patched += len(done)


def _write_applied(done: list[tuple[Domain, str]], origins: dict[str, Origin]) -> None:
    """Record what Cloudflare now has for these hostnames, and one event each: one UPDATE per
    target and one INSERT of the events."""
    now = timezone.now()
    by_target: dict[str, list[uuid.UUID]] = {}
    before: dict[uuid.UUID, str] = {}
    for domain, applied in done:
        by_target.setdefault(applied, []).append(domain.pk)
        # The domain as it now is: the webhook each event owes carries it.
        before[domain.pk], domain.origin_applied, domain.updated_at = (
            domain.origin_applied,
            applied,
            now,
        )
    with transaction.atomic():
        for applied, ids in by_target.items():
            Domain.objects.filter(pk__in=ids).update(origin_applied=applied, updated_at=now)
        record_events(
            [
                domain_event(
                    domain,
                    DomainEventKind.ORIGIN_CHANGED,
                    message=(
                        f"Now served by origin “{origins[applied].name}”"
                        if applied in origins
                        else "Now served by the shared default origin"
                    ),
                    data={"from": before[domain.pk], "to": applied},
                )
                for domain, applied in done
            ]
        )


def _sni(mode: str, address: str) -> str:
    if mode == "request_host":
        return ":request_host_header:"
    if mode == "origin" and address and parse_origin_address(address).is_hostname:
        return address
    return ""


def _remove(origin: Origin, client: CloudflareClient, report: SyncReport) -> None:
    """Remove a deleted origin's record once no domain points, or is to point, at it."""
    name = origin.record_name
    if Domain.objects.filter(Q(origin_server=name) | Q(origin_applied=name)).exists():
        return  # its domains are still moving away
    try:
        if origin.record_id:
            client.dns_record_delete(origin.record_id)
        for record in client.dns_records(name=name):
            if record.comment == origin.marker:
                client.dns_record_delete(record.id)
    except CloudflareRateLimitedError:
        raise
    except CloudflareError as error:
        _origin_failed(origin, error, report)
        return
    Origin.objects.filter(pk=origin.pk, state=OriginState.DELETING).delete()
    report.records_deleted += 1
    logger.info("origins: removed %s (%s)", origin.pk, name)


def origins_sweep(*, client: CloudflareClient | None = None) -> int:
    """Remove the zone's records marked as an origin's whose origin no longer exists here (an
    organization deleted with its origins) and that no domain points at. Run daily; returns
    how many went. A record whose origin row exists is never touched."""
    client = client or CloudflareClient()
    records = client.dns_records(comment_prefix=MARKER_PREFIX)
    known = {str(pk) for pk in Origin.objects.values_list("pk", flat=True)}
    removed = 0
    for record in records:
        if record.comment.removeprefix(MARKER_PREFIX) in known:
            continue
        in_use = Domain.objects.filter(
            Q(origin_server=record.name) | Q(origin_applied=record.name)
        ).exists()
        if not in_use and client.dns_record_delete(record.id):
            removed += 1
            logger.info("origins: removed orphan record %s (%s)", record.name, record.comment)
    return removed
