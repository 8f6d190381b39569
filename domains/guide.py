"""The DNS record's instructions in the words of the host that serves the domain's DNS: which
host it is (detected in the background, or chosen by the person reading), the record's name
as that host's form wants it, and that host's traps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from domains.dns.hosts import BY_KEY, HOSTS, Apex, Confidence, DnsHost
from domains.models import (
    DnsCheck,
    DnsHostDetection,
    Domain,
    DomainEvent,
    DomainEventKind,
    DomainStatus,
)

# Cloudflare retries a hostname's validation about 75 times over 7 days, then stops; a refresh
# (our Check now) starts the schedule again (the contract, §5.4 and §1.3).
VALIDATION_WINDOW = timedelta(days=7)
# What starts Cloudflare's schedule: the registration, or a check (a refresh).
REFRESHING_EVENTS = (DomainEventKind.CREATED, DomainEventKind.CHECK_REQUESTED)


@dataclass(frozen=True)
class DnsGuide:
    host: DnsHost | None  # whose words the steps use; None: generic steps
    chosen: bool  # picked by the reader rather than detected
    confidence: str  # Confidence, for a detected host
    zone: str  # the zone the record goes in ("" when not known)
    name: str  # the record's name as the host's form wants it (relative to the zone)
    value: str  # the CNAME target
    nameservers: tuple[str, ...]
    problem: str  # why the host could not be told
    looked_up: bool  # a detection has been made (else: still looking)
    hosts: tuple[DnsHost, ...] = HOSTS

    detected: DnsHost | None = None  # the host the nameservers say, whatever was chosen

    @property
    def partial(self) -> bool:
        return not self.chosen and self.confidence == Confidence.SOME

    @property
    def not_delegated(self) -> bool:
        """The reader chose a host the domain's DNS is not served by: records made there do
        nothing (`not_delegated`)."""
        return (
            self.chosen
            and self.detected is not None
            and self.host is not None
            and self.detected.key != self.host.key
            and self.confidence == Confidence.ALL
        )


def dns_guide(
    domain: Domain, detection: DnsHostDetection | None, *, chosen: str = "", target: str
) -> DnsGuide:
    """The guide for `domain`'s CNAME; `chosen`: a host key the reader picked ("" or unknown:
    the detected host)."""
    picked = BY_KEY.get(chosen)
    detected = BY_KEY.get(detection.host) if detection is not None else None
    zone = detection.zone if detection is not None else ""
    relative = ""
    if domain.dns_records:
        relative = str(domain.dns_records[0]["host"])
    if zone and domain.hostname.endswith("." + zone):
        relative = domain.hostname.removesuffix("." + zone)
    elif zone and domain.hostname == zone:
        relative = "@"
    host = picked or detected
    if relative == "@" and host is not None and host.apex_name is not None:
        relative = host.apex_name or "(leave it blank)"
    return DnsGuide(
        host=host,
        chosen=picked is not None,
        confidence=detection.confidence if detection is not None else "",
        zone=zone,
        name=relative,
        value=target,
        nameservers=tuple(detection.nameservers) if detection is not None else (),
        problem=detection.problem if detection is not None else "",
        looked_up=detection is not None,
        detected=detected,
    )


def validation_deadline(domain: Domain, last_refresh: datetime | None) -> datetime | None:
    """When Cloudflare stops (or stopped) checking a domain's records, about: 7 days after it
    was added or last checked (`last_refresh`). None once nothing is waiting for the record."""
    timed_out = domain.ssl_status.endswith("_timed_out")
    if domain.status not in (DomainStatus.PENDING, DomainStatus.REGISTERING) and not timed_out:
        return None
    return (last_refresh or domain.created_at) + VALIDATION_WINDOW


def deadline_context(domain: Domain, last_refresh: datetime | None) -> dict[str, object]:
    """The deadline for a page, and whether it has passed (then one click starts again)."""
    deadline = validation_deadline(domain, last_refresh)
    passed = deadline is not None and (
        deadline <= timezone.now() or domain.ssl_status.endswith("_timed_out")
    )
    return {"deadline": deadline, "deadline_passed": passed}


def last_refresh(events: Iterable[DomainEvent]) -> datetime | None:
    """The newest registration or check among `events` (newest first), if any."""
    return next((e.created_at for e in events if e.kind in REFRESHING_EVENTS), None)


# How each verdict reads on a badge: (label, the badge's tone).
_PROPAGATING_OR_UNKNOWN = {"propagating": "Saved, propagating", "unknown": "Could not tell"}


def record_rows(check: DnsCheck | None) -> list[dict[str, object]]:
    """The last records check as the pages show it: each row with its badge's label and tone,
    and whether the DNS host itself answers differently from the public resolver."""
    rows: list[dict[str, object]] = []
    for record in check.records if check is not None else []:
        if record["match"] is True:
            label, tone = ("Right", "active")
        elif record["code"] in _PROPAGATING_OR_UNKNOWN or record["match"] is None:
            label = _PROPAGATING_OR_UNKNOWN.get(record["code"], "Could not tell")
            tone = "pending"
        else:
            label, tone = (
                ("Not right yet" if record.get("required", True) else "Not there"),
                ("failed" if record.get("required", True) else "pending"),
            )
        differs = (
            record["authoritative_found"] is not None
            and record["authoritative_found"] != record["found"]
        )
        rows.append({**record, "label": label, "tone": tone, "differs": differs})
    return rows


def is_apex(domain: Domain, detection: DnsHostDetection | None) -> bool:
    """The bare domain (client.com): its zone's apex when the zone is known, else as the
    hostname's registrable part says."""
    if detection is not None and detection.zone:
        return domain.hostname == detection.zone
    return any(r["type"] == "CNAME" and r.get("host") == "@" for r in domain.dns_records)


def apex_addresses() -> dict[str, list[str]]:
    """Cloudflare's apex proxying addresses by record type, when the operator has them."""
    found = {"A": list(settings.CLOUDFLARE_APEX_IPV4), "AAAA": list(settings.CLOUDFLARE_APEX_IPV6)}
    return {kind: addresses for kind, addresses in found.items() if addresses}


def shown_records(
    domain: Domain, detection: DnsHostDetection | None, host: DnsHost | None
) -> tuple[list[dict[str, object]], str]:
    """The records to show, and how a bare domain is served ("" for a subdomain): with apex
    proxying addresses, A/AAAA records with them ("addresses"); at a host with ALIAS records,
    the CNAME as an ALIAS ("alias"); at a host that flattens, the CNAME at the apex
    ("flattening"); otherwise the CNAME as it is, which most hosts refuse ("www")."""
    records: list[dict[str, object]] = list(domain.dns_records)
    if not is_apex(domain, detection):
        return records, ""
    addresses = apex_addresses()
    mode = "www"
    if addresses:
        mode = "addresses"
    elif host is not None and host.apex == Apex.ALIAS:
        mode = "alias"
    elif host is not None and host.apex == Apex.FLATTENING:
        mode = "flattening"
    shown: list[dict[str, object]] = []
    for record in records:
        if record["type"] != "CNAME":
            shown.append(record)
        elif mode == "addresses":
            shown += [
                {
                    **record,
                    "type": kind,
                    "host": "@",
                    "value": address,
                    "purpose": "Cloudflare's address for bare domains: sends your customer's "
                    "traffic to us and proves the domain is theirs.",
                }
                for kind, values in addresses.items()
                for address in values
            ]
        elif mode == "alias":
            shown.append(
                {
                    **record,
                    "type": "ALIAS",
                    "host": host.apex_name or "@" if host is not None else "@",
                    "purpose": f"{host.name if host else 'Your DNS host'}'s ALIAS record: "
                    "a CNAME where the bare domain cannot have one.",
                }
            )
        else:
            shown.append(record)
    return shown, mode
