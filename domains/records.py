"""A domain's DNS records checked, kept and announced: which records it needs, what its DNS
host and the public resolvers answer for each (`domains.dns.check_records`), and the
`domain.dns_changed` webhook when that answer changes.

Checked after the domain is added, at each Check now (and "Check my records" on a hand-off
page), through `GET /api/v1/domains/{id}/dns`, and every DNS_RECHECK_MINUTES for domains still
waiting for their records. DNS lookups happen outside any transaction; storing the result and
the event it owes is one transaction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from domains import dns
from domains.dns.hosts import BY_KEY
from domains.events import domain_event, record_events
from domains.guide import apex_addresses
from domains.models import (
    DnsCheck,
    DnsHostDetection,
    Domain,
    DomainEventKind,
    DomainStatus,
)

# Statuses whose records are still awaited: the periodic check looks at these.
WAITING = (DomainStatus.REGISTERING, DomainStatus.PENDING, DomainStatus.FAILED)


def wanted_records(domain: Domain, detection: DnsHostDetection | None = None) -> list[dns.Wanted]:
    """The records `domain` needs: the CNAME (or, for a bare domain with apex proxying
    configured, A/AAAA records with its addresses) and the TXT records Cloudflare asks for;
    once active, only the required ones."""
    active = domain.status == DomainStatus.ACTIVE
    zone = detection.zone if detection is not None else ""
    apex = (
        domain.hostname == zone
        if zone
        else any(r["type"] == "CNAME" and r.get("host") == "@" for r in domain.dns_records)
    )
    wanted: list[dns.Wanted] = []
    for record in domain.dns_records:
        required = bool(record.get("required", True))
        if active and not required:
            continue
        if record["type"] == "CNAME" and apex and apex_addresses():
            wanted += [
                dns.Wanted(domain.hostname, kind, address)
                for kind, addresses in apex_addresses().items()
                for address in addresses
            ]
            continue
        wanted.append(dns.Wanted(record["name"], record["type"], record["value"], required))
    return wanted


def _state(records: list[dict[str, Any]]) -> str:
    """What was found, without the words: a change of this is a change of the DNS."""
    seen = [
        [r["name"], r["type"], r["found"], r["authoritative_found"], r["match"], r["code"]]
        for r in records
    ]
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()


def domain_check_records(domain: Domain, *, cname: dns.CnameCheck | None = None) -> DnsCheck | None:
    """Check `domain`'s records now and keep the result; records `domain.dns_changed` when what
    was found differs from the last check (the first check has nothing to differ from). None
    once the domain is gone. `cname`: the CNAME's check when the caller just made it."""
    detection = DnsHostDetection.objects.filter(domain=domain).first()
    host = BY_KEY.get(detection.host) if detection is not None else None
    checks = dns.check_records(
        domain.hostname, wanted_records(domain, detection), host=host, cname=cname
    )
    records = [check.as_dict() for check in checks]
    state = _state(records)
    now = timezone.now()
    try:
        with transaction.atomic():
            previous = (
                DnsCheck.objects.select_for_update().filter(domain=domain).only("state").first()
            )
            check, _ = DnsCheck.objects.update_or_create(
                domain=domain, defaults={"records": records, "state": state, "checked_at": now}
            )
            if previous is not None and previous.state and previous.state != state:
                record_events(
                    [
                        domain_event(
                            domain,
                            DomainEventKind.DNS_CHANGED,
                            message=summary(records),
                            data={"records": records},
                        )
                    ]
                )
    except IntegrityError:
        return None  # removed while we looked
    return check


def summary(records: list[dict[str, Any]]) -> str:
    """One line for the history: how many records are right, and the first problem."""
    needed = [r for r in records if r.get("required", True) and r["type"] != "CAA"]
    right = sum(1 for r in needed if r["match"])
    problem = next((r for r in records if r["match"] is not True), None)
    line = f"{right} of {len(needed)} required records right"
    return f"{line}; {problem['name']} {problem['type']}: {problem['code']}" if problem else line


def due_for_recheck(limit: int) -> list[str]:
    """Ids of waiting domains whose records were last checked DNS_RECHECK_MINUTES ago or more
    (or never), oldest first; each is claimed (its check time moved to now) so two beats never
    hand out the same domain twice."""
    now = timezone.now()
    cutoff = now - timedelta(minutes=int(settings.DNS_RECHECK_MINUTES))
    candidates = list(
        Domain.objects.filter(status__in=WAITING)
        .exclude(dns_check__checked_at__gt=cutoff)
        .order_by("dns_check__checked_at", "created_at")
        .values_list("pk", flat=True)[:limit]
    )
    claimed: list[str] = []
    for pk in candidates:
        updated = DnsCheck.objects.filter(pk=pk, checked_at__lte=cutoff).update(checked_at=now)
        if not updated:
            try:
                with transaction.atomic():
                    DnsCheck.objects.create(domain_id=pk, checked_at=now)
            except IntegrityError:
                continue  # another beat claimed it, or the domain is gone
        claimed.append(str(pk))
    return claimed
