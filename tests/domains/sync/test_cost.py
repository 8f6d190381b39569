"""What a cycle costs: Cloudflare calls by strategy, and SQL queries against unchanged domains."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization
from domains import sync
from domains.models import Domain, DomainStatus
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import make_all_due, make_due, register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db

SMALL_CONSTANT = 2


def cloudflare_requests(sim: CloudflareSandbox) -> int:
    return len(sim.requests)


def test_a_cycle_with_many_due_domains_lists_the_zone_instead_of_one_get_each(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 120)
    before = cloudflare_requests(cloudflare_sim)

    run = sync.run_cycle()

    calls = cloudflare_requests(cloudflare_sim) - before
    assert run.strategy == "list"
    assert run.claimed == 120
    assert calls == run.cloudflare_calls
    assert calls <= min(120, math.ceil(len(domains) / 50)) + SMALL_CONSTANT
    assert (
        Domain.objects.filter(next_sync_at__isnull=False, last_synced_at__isnull=False).count()
        == 120
    )


def test_a_cycle_with_few_due_domains_fetches_each_with_one_get(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 120)
    Domain.objects.update(next_sync_at=None)
    make_due(domains[3], domains[70])
    before = cloudflare_requests(cloudflare_sim)

    run = sync.run_cycle()

    assert run.strategy == "get"
    assert cloudflare_requests(cloudflare_sim) - before == run.cloudflare_calls == 2
    fetched = {r.path.rsplit("/", 1)[-1] for r in cloudflare_sim.requests[-2:]}
    assert fetched == {domains[3].cloudflare_id, domains[70].cloudflare_id}


def test_a_listing_stops_once_every_claimed_domain_has_been_seen(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 400)  # 8 pages
    Domain.objects.update(next_sync_at=None)
    make_due(*domains[:20])  # more than 8 due: listing is cheaper; all on the first page
    before = cloudflare_requests(cloudflare_sim)

    run = sync.run_cycle()

    assert run.strategy == "list"
    assert cloudflare_requests(cloudflare_sim) - before == run.cloudflare_calls == 1
    assert Domain.objects.filter(last_synced_at__isnull=False).count() == 20


def _queries_of_a_cycle_over(
    count: int, acme: Organization, http: CloudflareHttp, prefix: str
) -> int:
    register_many(http, acme, count, prefix=prefix)
    sync.run_cycle()  # first look: records Cloudflare's states (rows change)
    make_all_due()
    with CaptureQueriesContext(connection) as queries:
        run = sync.run_cycle()  # nothing changed at Cloudflare
    assert run.changed == 0
    assert run.claimed == Domain.objects.count()
    # Without Redis the shared rate budget spends through one UPDATE per Cloudflare call (with
    # Redis it is no SQL at all); calls are measured on their own, so they are left out here.
    return len([q for q in queries.captured_queries if "ratebudgetcounter" not in q["sql"]])


def test_a_cycles_queries_do_not_grow_with_the_number_of_unchanged_domains(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    few = _queries_of_a_cycle_over(8, acme, cloudflare_http, "few")
    Domain.objects.all().delete()
    cloudflare_sim.reset()
    many = _queries_of_a_cycle_over(45, acme, cloudflare_http, "many")

    assert many == few
    assert Domain.objects.filter(status=DomainStatus.PENDING).count() == 45


def test_a_listing_cycles_queries_do_not_grow_with_the_zones_pages_either(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    one_page = _queries_of_a_cycle_over(40, acme, cloudflare_http, "one")
    Domain.objects.all().delete()
    cloudflare_sim.reset()
    four_pages = _queries_of_a_cycle_over(180, acme, cloudflare_http, "four")

    assert sync.last_run().strategy == "list"
    assert sync.last_run().cloudflare_calls == 4
    assert four_pages == one_page
