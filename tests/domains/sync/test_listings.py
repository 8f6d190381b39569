"""How a cycle lists: only the certificate statuses its due domains are in, split across
tasks, with the cycle's last task fetching what no listing showed."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Organization
from domains import sync
from domains.models import Domain, DomainStatus, SyncRun
from domains.push.receiver import Notice
from domains.push.services import hint_record, hints_process
from domains.rate_budget import budget
from domains.schedule import claim_shown
from domains.sync import apply, cycle
from domains.sync.apply import filter_usable
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import make_all_due, make_due, register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db


def listing_queries(sim: CloudflareSandbox, since: int = 0) -> list[dict[str, list[str]]]:
    return [
        r.query
        for r in sim.requests[since:]
        if r.method == "GET" and r.path.endswith("/custom_hostnames")
    ]


def gets(sim: CloudflareSandbox, since: int = 0) -> int:
    return len(
        [r for r in sim.requests[since:] if r.method == "GET" and "/custom_hostnames/" in r.path]
    )


def a_zone_of_active_domains_and_due_pending_ones(
    sim: CloudflareSandbox, http: CloudflareHttp, organization: Organization
) -> list[Domain]:
    """300 domains: 240 active (not due), 60 pending (due). Returns the pending ones."""
    domains = register_many(http, organization, 300)
    for domain in domains[:240]:
        sim.set_cname(domain.hostname, True)
    sync.run_cycle()
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 240
    pending = domains[240:]
    make_due(*pending)
    return pending


# Choosing ------------------------------------------------------------------------------------
def test_a_few_due_domains_are_fetched_one_by_one() -> None:
    claimed = Counter({"active": 3})

    assert sync.choose_listings(claimed, Counter({"active": 1000}), filtered=True) == []


def test_due_domains_spread_over_the_zone_list_the_whole_zone() -> None:
    claimed = Counter({"active": 400, "pending_validation": 300})
    zone = Counter({"active": 1000, "pending_validation": 500})

    # 30 pages either way: one listing rather than two.
    assert sync.choose_listings(claimed, zone, filtered=True) == [""]


def test_due_domains_gathered_in_a_small_status_list_that_status_alone() -> None:
    claimed = Counter({"pending_validation": 100, "active": 2})
    zone = Counter({"active": 48_000, "pending_validation": 2_000})

    # 40 pages of pending_validation and 2 GETs, against 1,000 pages or 102 GETs.
    assert sync.choose_listings(claimed, zone, filtered=True) == ["pending_validation"]


def test_without_a_usable_filter_only_the_whole_zone_is_ever_listed() -> None:
    claimed = Counter({"pending_validation": 100, "active": 2})
    zone = Counter({"active": 48_000, "pending_validation": 2_000})

    assert sync.choose_listings(claimed, zone, filtered=False) == []


def test_the_zone_is_counted_only_as_far_as_the_choice_can_use_it(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    register_many(cloudflare_http, acme, 400)  # pending_validation, all of them
    few = Counter({"pending_validation": 2})

    with CaptureQueriesContext(connection) as queries:
        zone, total, exact = sync.count_zone(few)

    # 2 GETs beat any listing of more than 100 hostnames: counting stops at 101.
    assert (zone, total, exact) == (Counter({"pending_validation": 101}), 101, False)
    assert all(" LIMIT 101" in q["sql"] for q in queries.captured_queries)
    assert sync.choose_listings(few, zone, filtered=True, total=total) == []
    many = Counter({"pending_validation": 10})
    assert sync.count_zone(many) == (Counter({"pending_validation": 400}), 400, True)
    assert sync.choose_listings(many, Counter({"pending_validation": 400}), filtered=True) == [""]


def test_more_due_domains_than_a_cycle_claims_are_weighed_all_when_choosing_a_listing(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.SYNC_MAX_PER_CYCLE = 5  # 5 GETs would beat a listing of 8 pages, for those 5
    register_many(cloudflare_http, acme, 400)  # 8 pages, every one due
    since = len(cloudflare_sim.requests)

    run = sync.run_cycle()

    # The listing takes every due domain it shows: 8 calls for 400, not 5 for 5.
    assert (run.strategy, run.due, run.claimed) == ("list", 400, 400)
    assert len(listing_queries(cloudflare_sim, since)) == 8
    assert gets(cloudflare_sim, since) == 0
    assert not Domain.objects.filter(last_synced_at=None).exists()


def test_a_cycle_that_did_not_count_the_whole_zone_records_no_zone_size(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 400)
    Domain.objects.update(next_sync_at=None)
    make_due(*domains[:2])

    run = sync.run_cycle()

    assert (run.strategy, run.zone_size) == ("get", 0)
    make_all_due()
    assert sync.run_cycle().zone_size == 400


def test_a_listing_is_split_into_tasks_the_last_running_to_the_end() -> None:
    assert sync.page_ranges(250, 100) == [(1, 100), (101, 200), (201, None)]
    assert sync.page_ranges(100, 100) == [(1, None)]
    assert sync.page_ranges(1, 100) == [(1, None)]


# Filtered listings ---------------------------------------------------------------------------
def test_a_cycle_lists_only_the_certificate_status_its_due_domains_are_in(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    pending = a_zone_of_active_domains_and_due_pending_ones(cloudflare_sim, cloudflare_http, acme)
    for domain in pending[:10]:
        cloudflare_sim.set_cname(domain.hostname, True)
    since = len(cloudflare_sim.requests)

    run = sync.run_cycle()

    assert run.listed == ["pending_validation", ""]
    queries = listing_queries(cloudflare_sim, since)
    assert queries[0]["ssl_status"] == ["pending_validation"]
    # The 50 still pending come in one page; the 10 that left the status would cost 10 GETs,
    # so the cycle's last task lists the zone (6 pages at most) instead, against 60 GETs.
    assert 2 <= len(queries) <= 7
    assert gets(cloudflare_sim, since) == 0
    assert run.cloudflare_calls == len(queries)
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 250
    assert not Domain.objects.filter(next_sync_at=run.lease_until).exists()
    assert run.finished_at is not None


def test_when_every_due_domain_changed_at_once_a_cycle_costs_no_more_than_the_zone(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    pending = a_zone_of_active_domains_and_due_pending_ones(cloudflare_sim, cloudflare_http, acme)
    for domain in pending:  # all 60 turned active at Cloudflare since the last look
        cloudflare_sim.set_cname(domain.hostname, True)
    since = len(cloudflare_sim.requests)

    run = sync.run_cycle()

    zone_pages = math.ceil(300 / 50)
    assert len(cloudflare_sim.requests) - since == run.cloudflare_calls <= zone_pages + 2
    assert gets(cloudflare_sim, since) == 0
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 300
    assert not Domain.objects.filter(next_sync_at=run.lease_until).exists()


def test_a_burst_of_hints_handed_to_the_sync_loop_costs_no_more_than_the_zone(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_WEBHOOK_SECRET = "s"
    pending = a_zone_of_active_domains_and_due_pending_ones(cloudflare_sim, cloudflare_http, acme)
    Domain.objects.update(next_sync_at=None)
    for n, domain in enumerate(pending):  # more than PUSH_MAX_GETS hostnames at once
        cloudflare_sim.set_cname(domain.hostname, True)
        hint_record(
            Notice(
                event_id=f"evt-{n}",
                event_type="ssl.custom_hostname_certificate.deployment.succeeded",
                hostname_id=domain.cloudflare_id,
                hostname=domain.hostname,
                zone_id=settings.CLOUDFLARE_ZONE_ID,
            )
        )
    since = len(cloudflare_sim.requests)

    report = hints_process()
    run = sync.run_cycle()

    assert (report.handed_over, report.fetched) == (60, 0)
    assert len(cloudflare_sim.requests) - since <= math.ceil(300 / 50) + 2
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 300
    assert run.claimed == 60


def test_a_listing_takes_every_other_due_domain_it_will_show(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.SYNC_MAX_PER_CYCLE = 100
    register_many(cloudflare_http, acme, 400)  # 8 pages, every domain due

    run = sync.run_cycle()

    assert (run.due, run.claimed, run.cloudflare_calls) == (400, 400, 8)
    assert not Domain.objects.filter(last_synced_at=None).exists()


def test_a_cloudflare_that_ignores_the_status_filter_is_listed_whole_from_then_on(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    pending = a_zone_of_active_domains_and_due_pending_ones(cloudflare_sim, cloudflare_http, acme)
    cloudflare_sim.configure(status_filters="ignore")
    cloudflare_sim.set_cname(pending[0].hostname, True)

    first = sync.run_cycle()

    assert first.listed == ["pending_validation"]
    assert not filter_usable()
    assert not Domain.objects.filter(next_sync_at=first.lease_until).exists()
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 241
    make_due(*pending[1:])
    since = len(cloudflare_sim.requests)

    later = sync.run_cycle()

    assert later.listed == [""]
    assert all("ssl_status" not in q for q in listing_queries(cloudflare_sim, since))


def test_a_cloudflare_that_refuses_the_status_filter_loses_no_domain(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    pending = a_zone_of_active_domains_and_due_pending_ones(cloudflare_sim, cloudflare_http, acme)
    cloudflare_sim.configure(status_filters="refuse")
    cloudflare_sim.set_cname(pending[0].hostname, True)

    since = len(cloudflare_sim.requests)
    run = sync.run_cycle()

    assert not filter_usable()
    assert not run.listing_failed
    # The refused listing's domains wait for the next cycle, not a GET each: it lists the zone.
    assert not Domain.objects.filter(next_sync_at=run.lease_until).exists()
    assert gets(cloudflare_sim, since) == 0
    make_due(*pending)
    later = sync.run_cycle()
    assert later.listed == [""]
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 241


def test_a_listing_reads_its_claimed_rows_a_chunk_at_a_time_never_the_whole_claim(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(apply, "APPLY_CHUNK", 100)
    monkeypatch.setattr(apply, "TOUCH_CHUNK", 100)
    register_many(cloudflare_http, acme, 400)  # 8 pages
    plan = sync.plan_cycle(trigger="test")
    (listing,) = plan.listings

    with CaptureQueriesContext(connection) as queries:
        sync.run_zone(run_id=plan.run.pk, lease=plan.run.lease_until, listing=listing)

    # Rows are read by the Cloudflare ids of the pages just listed, 100 at a time (or locked by
    # primary key to be written); no query reads the whole claim's rows or ids (a million
    # claimed domains would have been a million-entry map).
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT ")
        and '"domains_domain"."cloudflare_id"' in q["sql"].split(" FROM ")[0]
    ]
    by_cloudflare_id = [sql for sql in reads if '"domains_domain"."cloudflare_id" IN (' in sql]
    assert len(by_cloudflare_id) == 4
    others = [sql for sql in reads if sql not in by_cloudflare_id]
    assert all('"domains_domain"."id" IN (' in sql for sql in others), others
    assert not Domain.objects.filter(last_synced_at=None).exists()


def test_a_pages_claim_reads_the_pages_domains_by_cloudflare_id_not_every_due_row(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 60)  # every one due
    lease = timezone.now() + timedelta(minutes=15)
    shown = [d.cloudflare_id for d in domains[:2]]
    with CaptureQueriesContext(connection) as queries:
        assert claim_shown(now=timezone.now(), lease=lease, cloudflare_ids=shown) == 2
    (claim,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE ")]

    # During a large zone's shared check every row is due: a claim that walked the due rows'
    # index would read the zone for each page.
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {claim}")
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a 60-row table: not a choice
            cursor.execute(f"EXPLAIN {claim}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "domain_unique_cloudflare_id" in plan, plan
    assert "next_sync_at" not in plan.split("domain_unique_cloudflare_id")[0], plan


# Listings across tasks -----------------------------------------------------------------------
def test_a_long_listing_is_shared_by_tasks_that_together_read_each_page_once(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.SYNC_LISTING_PAGES_PER_TASK = 2
    register_many(cloudflare_http, acme, 400)  # 8 pages

    plan = sync.plan_cycle(trigger="test")

    assert [(x.first, x.last) for x in plan.listings] == [(1, 2), (3, 4), (5, 6), (7, None)]
    lease = plan.run.lease_until
    since = len(cloudflare_sim.requests)
    for listing in plan.listings:
        sync.run_zone(run_id=plan.run.pk, lease=lease, listing=listing)
    pages = sorted(int(q["page"][0]) for q in listing_queries(cloudflare_sim, since))
    assert pages == [1, 2, 3, 4, 5, 6, 7, 8]
    assert not Domain.objects.filter(last_synced_at=None).exists()
    run = SyncRun.objects.get(pk=plan.run.pk)
    assert (run.pending_batches, run.finished_at is not None) == (0, True)


def test_a_cycle_whose_sweep_hands_the_zone_to_tasks_stays_unfinished_until_they_finish(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    domains = register_many(cloudflare_http, acme, 150)
    for domain in domains[:100]:
        cloudflare_sim.set_cname(domain.hostname, True)
    sync.run_cycle()
    Domain.objects.update(next_sync_at=None)
    make_due(*domains[100:])
    for domain in domains[100:]:  # all 50 left pending_validation since the last look
        cloudflare_sim.set_cname(domain.hostname, True)
    plan = sync.plan_cycle(trigger="test")
    assert plan.run.listed == ["pending_validation"]
    lease = plan.run.lease_until
    assert lease is not None

    seen_mid_sweep: list[object] = []
    list_the_zone = cycle._list_the_zone

    def watched(*args: Any, **kwargs: Any) -> None:
        seen_mid_sweep.append(SyncRun.objects.get(pk=plan.run.pk).finished_at)
        list_the_zone(*args, **kwargs)

    monkeypatch.setattr(cycle, "_list_the_zone", watched)
    with django_capture_on_commit_callbacks(execute=False) as zone_tasks:
        sync.run_zone(run_id=plan.run.pk, lease=lease, listing=plan.listings[0])

    # The last task's sweep listed nothing itself: it handed the zone to a task, and the run
    # was never finished meanwhile (no one watching it sees "done" while domains are held).
    assert seen_mid_sweep == [None]
    run = SyncRun.objects.get(pk=plan.run.pk)
    assert (run.listed, run.pending_batches, run.finished_at) == (
        ["pending_validation", ""],
        1,
        None,
    )
    assert len(zone_tasks) == 1
    sync.run_zone(run_id=plan.run.pk, lease=lease)  # what that task does; its end sweeps again
    run.refresh_from_db()
    assert (run.pending_batches, run.sweeping, run.finished_at is not None) == (0, False, True)
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 150


def test_a_hostname_no_listing_showed_is_fetched_by_the_cycles_last_task(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 120)
    sync.run_cycle()
    cloudflare_sim.remove(domains[7].hostname)  # deleted at Cloudflare behind our back
    make_all_due()

    run = sync.run_cycle()

    assert run.strategy == "list"
    vanished = Domain.objects.get(pk=domains[7].pk)
    assert vanished.cloudflare_id != domains[7].cloudflare_id  # registered again
    assert len(cloudflare_sim.hostnames()) == 120


def test_when_a_listing_fails_its_domains_are_retried_later_not_fetched_one_by_one(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    register_many(cloudflare_http, acme, 120)
    cloudflare_sim.inject_fault("503", path_contains="/custom_hostnames", method="GET")
    since = len(cloudflare_sim.requests)

    run = sync.run_cycle()

    assert run.listing_failed
    assert gets(cloudflare_sim, since) == 0
    later = timezone.now() + timedelta(seconds=30)
    assert not Domain.objects.filter(next_sync_at__lt=later).exists()
    assert set(Domain.objects.values_list("sync_attempts", flat=True)) == {1}


def test_what_a_listing_cut_short_by_the_budget_left_waits_for_the_next_window_not_a_get_each(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 12
    settings.CLOUDFLARE_RATE_RESERVED = 2  # the sync loop may spend 10 calls a window,
    settings.CLOUDFLARE_RATE_LISTING_SHARE = 0.5  # 5 of them on listings: 5 pages of 8
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    register_many(cloudflare_http, acme, 400)
    since = len(cloudflare_sim.requests)

    with CaptureQueriesContext(connection) as queries:
        run = sync.run_cycle()

    assert run.budget_exhausted
    # The 150 left were released by one UPDATE over the lease: their ids were never read.
    statements = [q["sql"] for q in queries.captured_queries]
    lease = ' WHERE "domains_domain"."next_sync_at" = '
    releases = [s for s in statements if s.startswith("UPDATE ") and lease in s]
    assert len(releases) == 1, releases
    assert " AND " not in releases[0].split(" WHERE ")[1]
    reads = [s for s in statements if s.startswith('SELECT "domains_domain"."id" FROM ')]
    assert not [s for s in reads if lease in s and " LIMIT " not in s], reads
    assert len(listing_queries(cloudflare_sim, since)) == 5
    assert gets(cloudflare_sim, since) == 0  # 5 bulk calls were left, but not spent on GETs
    left = Domain.objects.filter(last_synced_at=None)
    assert left.count() == 150
    reset = budget.usage().window_reset_at
    assert not left.filter(next_sync_at__lt=reset).exists()


def test_a_listing_cut_short_by_the_budget_leaves_the_due_domains_it_did_not_reach_untouched(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 12
    settings.CLOUDFLARE_RATE_RESERVED = 2  # 5 pages of 8 a window, as above
    settings.CLOUDFLARE_RATE_LISTING_SHARE = 0.5
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    settings.SYNC_MAX_PER_CYCLE = 20  # the cycle claims 20; its listing takes what it shows
    register_many(cloudflare_http, acme, 400)
    due = timezone.now() - timedelta(minutes=1)
    Domain.objects.update(next_sync_at=due)

    run = sync.run_cycle()

    # A page claims the due domains it shows: 250 seen, every one of them applied.
    assert (run.budget_exhausted, run.due, run.fetched) == (True, 400, 250)
    assert (
        run.claimed
        == 250 + Domain.objects.filter(last_synced_at=None).exclude(next_sync_at=due).count()
    )
    # The 150 no page reached were written only if the cycle itself had claimed them (at
    # most 20, given back for the next window): the rest were never claimed and released.
    left = Domain.objects.filter(last_synced_at=None)
    assert left.count() == 150
    assert left.filter(next_sync_at=due).count() >= 130
    assert (
        not left.exclude(next_sync_at=due)
        .filter(next_sync_at__lt=budget.usage().window_reset_at)
        .exists()
    )


def test_while_a_cycles_listing_runs_a_later_cycle_claims_only_what_came_due_since(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.SYNC_MAX_PER_CYCLE = 5
    register_many(cloudflare_http, acme, 400)  # every one due
    listing = sync.plan_cycle(trigger="test").run  # its tasks are still to run
    assert (listing.strategy, listing.listed, listing.claimed) == ("list", [""], 5)

    with time_machine.travel(listing.started_at + timedelta(seconds=30), tick=False):
        since = listing.started_at + timedelta(seconds=10)
        one = Domain.objects.exclude(next_sync_at=listing.lease_until).first()
        Domain.objects.filter(pk=one.pk).update(next_sync_at=since)
        later = sync.plan_cycle(trigger="test").run
        # Not the 394 the running listing will take as its pages show them: one listing of
        # the zone at a time.
        assert (later.strategy, later.due, later.claimed) == ("get", 1, 1)

        SyncRun.objects.filter(pk__in=[listing.pk, later.pk]).update(finished_at=timezone.now())
        after = sync.plan_cycle(trigger="test").run
        assert (after.strategy, after.due) == ("list", 394)


def test_after_the_budget_stopped_a_listing_the_windows_later_cycles_claim_only_what_came_due_since(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 12
    settings.CLOUDFLARE_RATE_RESERVED = 2  # 5 pages of 8 a window, as above
    settings.CLOUDFLARE_RATE_LISTING_SHARE = 0.5
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    settings.SYNC_MAX_PER_CYCLE = 20
    register_many(cloudflare_http, acme, 400)
    due = timezone.now() - timedelta(minutes=1)
    Domain.objects.update(next_sync_at=due)
    stopped = sync.run_cycle()
    assert stopped.budget_exhausted
    untouched = Domain.objects.filter(next_sync_at=due).count()
    since = len(cloudflare_sim.requests)

    with time_machine.travel(timezone.now() + timedelta(seconds=1), tick=False):
        one = Domain.objects.filter(next_sync_at=due).first()
        Domain.objects.filter(pk=one.pk).update(next_sync_at=timezone.now())
        later = sync.run_cycle()

    # One GET for the one due since, from what the window has left; the 130-odd the listing
    # did not reach are neither claimed nor given back: the next window's listing goes on.
    assert (later.strategy, later.due, later.claimed, later.cloudflare_calls) == ("get", 1, 1, 1)
    assert gets(cloudflare_sim, since) == 1
    assert Domain.objects.filter(next_sync_at=due).count() == untouched - 1

    since = len(cloudflare_sim.requests)
    with time_machine.travel(budget.usage().window_reset_at + timedelta(seconds=1), tick=False):
        next_window = sync.run_cycle()
    # The next window lists again, from the page where the budget stopped the last listing.
    assert (next_window.strategy, next_window.listed) == ("list", [""])
    assert listing_queries(cloudflare_sim, since)[0]["page"] == ["6"]
    assert not Domain.objects.filter(next_sync_at=due).exists()
