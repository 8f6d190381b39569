"""Helpers of the sync-loop tests: domains registered at the simulator without the plan limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import Organization
from domains.cloudflare import CustomHostname, parse_hostname
from domains.models import Domain, DomainStatus
from domains.services import records_for, status_from_remote
from sandbox.cloudflare import CloudflareSandbox
from tests.fixtures.cloudflare import CloudflareHttp

DOMAIN = "acme-shop.dev"  # a registrable test domain (the simulator's special labels need one)


def register(
    http: CloudflareHttp,
    organization: Organization,
    hostname: str,
    *,
    due: bool = True,
    status: str | None = None,
) -> Domain:
    """A domain registered at the simulator (raw HTTP: no budget, no plan limit), due now."""
    remote = parse_hostname(http.create(hostname, ssl={"method": "http", "type": "dv"}))
    return _row(organization, hostname, remote, due=due, status=status)


def register_many(
    http: CloudflareHttp, organization: Organization, count: int, *, prefix: str = "shop"
) -> list[Domain]:
    domains = []
    for n in range(count):
        remote = parse_hostname(http.create(f"{prefix}{n}.{DOMAIN}"))
        domains.append(_row(organization, remote.hostname, remote, save=False))
    return Domain.objects.bulk_create(domains)


def _row(
    organization: Organization,
    hostname: str,
    remote: CustomHostname,
    *,
    due: bool = True,
    status: str | None = None,
    save: bool = True,
) -> Domain:
    domain = Domain(
        organization=organization,
        hostname=hostname,
        status=status or status_from_remote(remote),
        cloudflare_id=remote.id,
        cloudflare_status=remote.status,
        ssl_status=remote.ssl_status,
        dns_records=records_for(hostname, remote),
        next_sync_at=timezone.now() - timedelta(seconds=1) if due else None,
    )
    if save:
        domain.save()
    return domain


def make_due(*domains: Domain, at: datetime | None = None) -> None:
    when = at or timezone.now() - timedelta(seconds=1)
    Domain.objects.filter(pk__in=[d.pk for d in domains]).update(next_sync_at=when)


def make_all_due() -> None:
    Domain.objects.update(next_sync_at=timezone.now() - timedelta(seconds=1))


def activate_all(sim: CloudflareSandbox) -> None:
    for hostname in sim.hostnames():
        sim.set_cname(hostname["hostname"], True)


def truth(sim: CloudflareSandbox) -> dict[str, str]:
    """Our expected status of each hostname, from the simulator's state."""
    return {h["hostname"]: str(status_from_remote(parse_hostname(h))) for h in sim.hostnames()}


def statuses() -> dict[str, str]:
    return dict(Domain.objects.values_list("hostname", "status"))


__all__ = ["DomainStatus"]
