"""One sync cycle, run in-process: transitions, schedule, leftovers, moved/blocked/deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Organization
from domains import schedule, sync
from domains.models import (
    Domain,
    DomainEvent,
    DomainEventKind,
    DomainNotification,
    DomainStatus,
    SyncRun,
    WebhookEndpoint,
    WebhookMessage,
)
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import DOMAIN, make_due, register, register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db


def test_a_pending_domain_becomes_active_once_its_cname_is_in_place(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    cloudflare_sim.set_cname(domain.hostname, True)

    run = sync.run_cycle()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.ACTIVE
    assert domain.activated_at is not None
    assert domain.ssl_status == "active"
    # Next checked with every active domain, at the next six-hour mark.
    assert domain.next_sync_at.timestamp() % (6 * 3600) == 0
    assert domain.next_sync_at > timezone.now()
    change = DomainEvent.objects.get(domain=domain, kind=DomainEventKind.STATUS_CHANGED)
    assert (change.from_status, change.to_status) == (DomainStatus.PENDING, DomainStatus.ACTIVE)
    assert (run.claimed, run.changed, run.errors, run.finished_at is not None) == (1, 1, 0, True)


def test_an_unchanged_pending_domain_only_gets_its_next_check_moved_back(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    sync.run_cycle()  # records the first answer (initializing -> pending_validation)
    domain.refresh_from_db()
    events = DomainEvent.objects.count()
    attempts = domain.sync_attempts
    make_due(domain)

    run = sync.run_cycle()

    domain.refresh_from_db()
    assert run.changed == 0
    assert DomainEvent.objects.count() == events
    assert domain.status == DomainStatus.PENDING
    assert domain.sync_attempts == attempts + 1
    expected = sync.pending_delay(attempts + 1)
    assert abs((domain.next_sync_at - domain.last_synced_at).total_seconds() - expected) < 1


def test_pending_checks_back_off_like_cloudflares_own_validation_schedule() -> None:
    assert [sync.pending_delay(n) for n in (1, 2, 10)] == [63, 66, 97]
    assert sync.pending_delay(11) == 279  # 1.15^n from the 11th attempt
    assert sync.pending_delay(40) == 4 * 3600  # capped at four hours
    now = timezone.now()
    assert sync.next_delay(DomainStatus.FAILED, 0, now=now, cloudflare_status="blocked") is None


def test_active_domains_are_all_checked_together_at_the_next_six_hour_mark() -> None:
    at_one = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)

    assert sync.next_delay(DomainStatus.ACTIVE, 5, now=at_one) == 5 * 3600
    assert sync.next_delay(DomainStatus.ACTIVE, 0, now=at_one.replace(hour=6)) == 6 * 3600
    assert sync.next_delay(DomainStatus.ACTIVE, 0, now=at_one.replace(hour=5, minute=59)) == 60


def test_a_zone_too_big_to_list_every_six_hours_on_a_tenth_of_the_budget_is_listed_less_often(
    settings: Settings,
) -> None:
    # Cloudflare's 1,200 calls per 5 minutes, 200 kept for people: 100 a window for the check.
    settings.CLOUDFLARE_RATE_LIMIT, settings.CLOUDFLARE_RATE_RESERVED = 1200, 200

    assert sync.active_interval(0) == 6 * 3600
    assert sync.active_interval(50_000) == 6 * 3600  # 1,000 pages in 72 windows
    assert sync.active_interval(360_000) == 6 * 3600  # 7,200 pages: exactly a tenth
    assert sync.active_interval(360_050) == 8 * 3600
    assert sync.active_interval(1_000_000) == 24 * 3600  # 20,000 pages: 12 h would be 14%
    assert sync.active_interval(10_000_000) == 24 * 3600  # never rarer than daily (§11.5)
    settings.SYNC_ACTIVE_INTERVAL_SECONDS = 3 * 3600
    assert sync.active_interval(200_000) == 8 * 3600


def test_a_cycle_over_a_zone_that_big_schedules_its_active_domains_at_the_daily_check(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A zone of one hostname weighs as a million would on a budget this share of the real one.
    monkeypatch.setattr(schedule, "ACTIVE_CHECK_SHARE", 0.10 / 1_000_000)
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    cloudflare_sim.set_cname(domain.hostname, True)
    sync.run_cycle()  # counts the zone: one hostname
    make_due(domain)

    run = sync.run_cycle()

    domain.refresh_from_db()
    assert run.zone_size == 1
    assert domain.status == DomainStatus.ACTIVE
    assert domain.next_sync_at.timestamp() % (24 * 3600) == 0
    assert domain.next_sync_at > timezone.now()


def test_domains_that_turn_active_at_different_moments_share_their_next_check(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 4)
    for index, domain in enumerate(domains):
        cloudflare_sim.set_cname(domain.hostname, True)
        # Between 01:00 and 01:21 UTC: the next shared check is at 06:00.
        with time_machine.travel(datetime(2026, 11, 27, 1, 7 * index, tzinfo=UTC)):
            make_due(domain)
            sync.run_cycle()

    checks = set(Domain.objects.values_list("next_sync_at", flat=True))
    assert checks == {datetime(2026, 11, 27, 6, 0, tzinfo=UTC)}
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 4


def test_a_registration_left_half_done_is_finished_by_the_loop(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = Domain.objects.create(
        organization=acme,
        hostname=f"late.{DOMAIN}",
        status=DomainStatus.REGISTERING,
        next_sync_at=timezone.now() - timedelta(seconds=1),
    )

    sync.run_cycle()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.PENDING
    assert domain.cloudflare_id
    assert [h["hostname"] for h in cloudflare_sim.hostnames()] == [domain.hostname]
    assert domain.next_sync_at > timezone.now()


def test_a_removal_left_half_done_is_finished_by_the_loop(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"gone.{DOMAIN}", status=DomainStatus.DELETING)

    sync.run_cycle()

    assert not Domain.objects.filter(pk=domain.pk).exists()
    assert cloudflare_sim.hostnames() == []
    assert DomainEvent.objects.filter(hostname=domain.hostname, kind=DomainEventKind.DELETED)


def test_a_hostname_that_vanished_at_cloudflare_is_registered_again(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    old_id = domain.cloudflare_id
    Domain.objects.filter(pk=domain.pk).update(status=DomainStatus.ACTIVE)
    cloudflare_sim.remove(domain.hostname)

    sync.run_cycle()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.PENDING
    assert domain.cloudflare_id
    assert domain.cloudflare_id != old_id
    assert [h["id"] for h in cloudflare_sim.hostnames()] == [domain.cloudflare_id]


@pytest.mark.parametrize("kept_as", ["deleted", "pending_deletion"])
def test_a_hostname_cloudflare_keeps_as_deleted_is_replaced_once_and_the_history_says_so(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    kept_as: str,
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    old_id = domain.cloudflare_id
    Domain.objects.filter(pk=domain.pk).update(status=DomainStatus.ACTIVE)
    cloudflare_sim.set_state(domain.hostname, status=kept_as)

    sync.run_cycle()
    make_due(domain)
    sync.run_cycle()

    domain.refresh_from_db()
    assert domain.cloudflare_id not in ("", old_id)
    assert [h["id"] for h in cloudflare_sim.hostnames()] == [domain.cloudflare_id]
    creates = [r for r in cloudflare_sim.requests if r.method == "POST"]
    deletes = [r for r in cloudflare_sim.requests if r.method == "DELETE"]
    # The first registration, the duplicate answer, the new one: nothing more the next cycle.
    assert (len(creates), len(deletes)) == (3, 1)
    registered = DomainEvent.objects.get(domain=domain, kind=DomainEventKind.REGISTERED)
    assert f"after deleting {old_id}" in registered.message


def test_a_caa_record_that_forbids_issuance_needs_attention_and_is_emailed(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"caa.{DOMAIN}", status=DomainStatus.PENDING)
    cloudflare_sim.set_cname(domain.hostname, True)

    sync.run_cycle()

    domain.refresh_from_db()
    assert domain.cloudflare_status == "active"
    assert domain.validation_errors
    assert domain.status == DomainStatus.FAILED
    assert [m.subject for m in mail.outbox] == [f"{domain.hostname} needs attention"]


def test_a_moved_hostname_is_refreshed_once_then_the_owners_are_told(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    # Pending on our side until now: Cloudflare reports it moved at the next look.
    domain = register(cloudflare_http, acme, f"moved.{DOMAIN}", status=DomainStatus.PENDING)

    sync.run_cycle()
    make_due(domain)
    sync.run_cycle()

    patches = [r for r in cloudflare_sim.requests if r.method == "PATCH"]
    assert len(patches) == 1
    domain.refresh_from_db()
    assert domain.status == DomainStatus.FAILED
    assert domain.cloudflare_status == "moved"
    assert domain.moved_refresh_at is not None
    assert [m.subject for m in mail.outbox] == [f"{domain.hostname} no longer points to us"]
    assert mail.outbox[0].to == ["alice@acme.test-customer.dev"]


def test_a_blocked_hostname_fails_is_explained_and_is_no_longer_polled(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"blocked.{DOMAIN}", status=DomainStatus.PENDING)

    sync.run_cycle()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.FAILED
    assert domain.next_sync_at is None
    assert [m.subject for m in mail.outbox] == [f"{domain.hostname} needs attention"]
    assert "held zone" in mail.outbox[0].body or "hold" in mail.outbox[0].body


def test_exactly_one_email_per_transition_whatever_is_run_again(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    cloudflare_sim.set_cname(domain.hostname, True)

    sync.run_cycle()
    make_due(domain)
    sync.run_cycle()
    from domains import tasks

    tasks.schedule_sync.apply()  # the task, run again: finds nothing new to send

    assert [m.subject for m in mail.outbox] == [f"{domain.hostname} is active: HTTPS works"]
    assert DomainNotification.objects.count() == 1


def test_a_transition_made_by_check_now_is_emailed_by_the_next_cycle(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    from domains.services import domain_check_now

    domain = register(cloudflare_http, acme, f"app.{DOMAIN}", due=False)
    cloudflare_sim.set_cname(domain.hostname, True)
    domain_check_now(domain=domain)
    assert mail.outbox == []

    sync.run_cycle()
    sync.run_cycle()

    assert [m.subject for m in mail.outbox] == [f"{domain.hostname} is active: HTTPS works"]


def test_a_certificate_close_to_expiry_is_announced_once(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}")
    cloudflare_sim.set_cname(domain.hostname, True)
    sync.run_cycle()
    domain.refresh_from_db()
    assert domain.certificate_expires_at is not None
    mail.outbox.clear()

    later = domain.certificate_expires_at - timedelta(days=10)
    with time_machine.travel(later, tick=True):
        # Cloudflare's renewal is stuck: the simulator keeps the old certificate.
        make_due(domain)
        sync.run_cycle()
        make_due(domain)
        sync.run_cycle()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith(f"The certificate of {domain.hostname} expires")


def test_each_cycle_records_its_summary(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    register(cloudflare_http, acme, f"a.{DOMAIN}")
    register(cloudflare_http, acme, f"b.{DOMAIN}", due=False)

    run = sync.run_cycle()

    assert SyncRun.objects.get() == run == sync.last_run()
    assert (run.due, run.claimed, run.fetched, run.strategy) == (1, 1, 1, "get")
    assert run.cloudflare_calls == 1
    assert run.finished_at is not None
    assert run.duration is not None
    assert sync.sync_lag() == timedelta(0)


def test_a_domain_the_loop_finds_active_is_announced_to_the_organizations_endpoint(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    endpoint = WebhookEndpoint.objects.create(organization=acme, url="https://hooks.acme.dev/in")
    domain = register(cloudflare_http, acme, f"hooked.{DOMAIN}")
    cloudflare_sim.set_cname(domain.hostname, True)

    sync.run_cycle()

    message = WebhookMessage.objects.get()
    assert message.type == "domain.active"
    assert message.payload["data"]["domain"]["status"] == "active"
    assert message.payload["data"]["domain"]["id"] == str(domain.pk)
    assert list(message.deliveries.values_list("endpoint_id", flat=True)) == [endpoint.pk]


@pytest.mark.django_db(transaction=True)
def test_a_domain_removed_while_its_email_is_recorded_is_skipped_not_a_crash(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from domains import notifications

    kept = register(cloudflare_http, acme, f"kept.{DOMAIN}", due=False)
    removed = register(cloudflare_http, acme, f"gone.{DOMAIN}", due=False)
    for domain in (kept, removed):
        Domain.objects.filter(pk=domain.pk).update(status=DomainStatus.ACTIVE)
        DomainEvent.objects.create(
            domain=domain,
            organization=acme,
            hostname=domain.hostname,
            kind="status_changed",
            from_status="pending",
            to_status="active",
        )
    kind_for = notifications._kind_for

    def removed_meanwhile(event: DomainEvent) -> str:
        # The API removes a domain between the read of its transition and the insert.
        Domain.objects.filter(pk=removed.pk).delete()
        return kind_for(event)

    monkeypatch.setattr(notifications, "_kind_for", removed_meanwhile)

    recorded = notifications.record_transitions()

    assert [n.domain_id for n in recorded] == [kept.pk]
    assert list(DomainNotification.objects.values_list("domain_id", flat=True)) == [kept.pk]
