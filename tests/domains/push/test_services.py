"""Cloudflare's notifications: the receiver at /webhooks/cloudflare and acting on its hints."""

from __future__ import annotations

import functools
import json
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as settings_module
from django.test import Client
from django.utils import timezone

from accounts.models import Organization
from domains.models import CloudflareHint, Domain, DomainStatus, HintOutcome
from domains.push import services as push_services
from domains.push.services import hints_process
from domains.rate_budget import budget
from domains.schedule import push_heard
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox, Delays
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

URL = "/webhooks/cloudflare"


def saas_body(sim: CloudflareSandbox, hostname_id: str, hostname: str, **kw: Any) -> dict[str, Any]:
    """The SaaS page's envelope (domains/cloudflare/CONTRACT.md §11.3)."""
    return {
        "metadata": {
            "event": {
                "id": kw.get("event_id", f"evt-{hostname_id}-{kw.get('suffix', 'x')}"),
                "type": "ssl.custom_hostname_certificate."
                + kw.get("event", "validation.succeeded"),
                "created_at": "2026-11-27T10:00:00.000000Z",
            },
            "account": {"id": "acct"},
            "zone": {"id": kw.get("zone", sim.zone_id)},
        },
        "data": {
            "id": hostname_id,
            "hostname": hostname,
            "ssl": {"id": "c", "type": "dv", "method": "http", "status": kw.get("ssl", "active")},
        },
    }


def post(client: Client, body: Any, secret: str | None = "ok") -> Any:  # noqa: S107
    headers = {} if secret is None else {"HTTP_CF_WEBHOOK_AUTH": secret}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture(autouse=True)
def secret(settings: Any) -> str:
    settings.CLOUDFLARE_WEBHOOK_SECRET = "ok"
    return "ok"


@pytest.fixture(autouse=True)
def no_settling(settings: Any) -> None:
    """Passing steps are acted on at once here, as any other; the settle tests set it."""
    settings.PUSH_SETTLE_SECONDS = 0


@pytest.fixture
def domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    registered = domain_register(organization=acme, hostname="shop.acme-customer.dev").domain
    assert registered.status == DomainStatus.PENDING
    return registered


def gets(sim: CloudflareSandbox) -> int:
    return sum(1 for r in sim.requests if r.method == "GET" and "custom_hostnames/" in r.path)


@pytest.mark.parametrize("secret_sent", [None, "", "wrong", "ok-but-longer"])
def test_a_missing_or_wrong_secret_is_401_and_nothing_is_kept_or_fetched(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, secret_sent: str | None
) -> None:
    before = gets(cloudflare_sim)

    response = post(
        client, saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname), secret_sent
    )
    hints_process()

    assert response.status_code == 401
    assert not CloudflareHint.objects.exists()
    assert gets(cloudflare_sim) == before


def test_a_hint_fetches_the_hostname_once_and_applies_what_cloudflare_says_now(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain
) -> None:
    cloudflare_sim.set_cname(domain.hostname, True)
    before = gets(cloudflare_sim)

    response = post(client, saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname))
    report = hints_process()

    domain.refresh_from_db()
    assert response.status_code == 200
    assert (report.fetched, report.applied) == (1, 1)
    assert gets(cloudflare_sim) == before + 1
    assert domain.status == DomainStatus.ACTIVE
    assert CloudflareHint.objects.get().outcome == HintOutcome.APPLIED
    # That GET was its check: the next is with every active domain, at the six-hour mark.
    assert domain.next_sync_at.timestamp() % (6 * 3600) == 0


def test_the_generic_notifications_envelope_is_understood_too(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain
) -> None:
    cloudflare_sim.set_cname(domain.hostname, True)
    inner = saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname)
    body = {
        "name": "DCVaaS",
        "text": "certificate event",
        "data": inner,
        "ts": 1795788531,
        "alert_type": "custom_ssl_certificate_event_type",
    }

    post(client, body)
    hints_process()

    domain.refresh_from_db()
    hint = CloudflareHint.objects.get()
    assert hint.hostname_id == domain.cloudflare_id
    assert hint.event_type.endswith("validation.succeeded")
    assert domain.status == DomainStatus.ACTIVE


def test_duplicates_are_kept_once_and_hints_for_one_domain_cost_one_call(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain
) -> None:
    first = saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname, suffix="1")
    again = post(client, first)
    duplicate = post(client, first)
    for event in ("issuance.succeeded", "deployment.succeeded"):
        post(
            client,
            saas_body(
                cloudflare_sim, domain.cloudflare_id, domain.hostname, suffix=event, event=event
            ),
        )
    before = gets(cloudflare_sim)

    report = hints_process()

    assert again.json() == {"ok": True, "duplicate": False}
    assert duplicate.json() == {"ok": True, "duplicate": True}
    assert CloudflareHint.objects.count() == 3
    assert (report.fetched, report.coalesced) == (1, 2)
    assert gets(cloudflare_sim) == before + 1


def test_a_replayed_or_late_event_never_moves_a_domain_backwards(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain
) -> None:
    cloudflare_sim.set_cname(domain.hostname, True)
    post(
        client,
        saas_body(
            cloudflare_sim,
            domain.cloudflare_id,
            domain.hostname,
            suffix="new",
            event="deployment.succeeded",
        ),
    )
    hints_process()
    # An old event, arriving late, says the certificate was only pending issuance.
    post(
        client,
        saas_body(
            cloudflare_sim,
            domain.cloudflare_id,
            domain.hostname,
            suffix="old",
            ssl="pending_issuance",
        ),
    )

    hints_process()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.ACTIVE
    assert domain.ssl_status == "active"


def test_another_zones_events_unknown_hostnames_and_test_messages_are_answered_and_ignored(
    client: Client, cloudflare_sim: CloudflareSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    other_zone = post(
        client, saas_body(cloudflare_sim, "id-1", "a.acme-customer.dev", zone="f" * 32)
    )
    unknown = post(client, saas_body(cloudflare_sim, "id-2", "nobody.acme-customer.dev"))
    hello = post(
        client, {"text": "Hello World! This is a test message sent from https://cloudflare.com."}
    )
    not_json = client.post(
        URL, data="{", content_type="application/json", HTTP_CF_WEBHOOK_AUTH="ok"
    )

    report = hints_process()

    assert [r.status_code for r in (other_zone, unknown, hello, not_json)] == [200] * 4
    outcomes = dict(CloudflareHint.objects.values_list("hostname_id", "outcome"))
    assert outcomes["id-1"] == HintOutcome.IGNORED
    assert outcomes["id-2"] == HintOutcome.UNKNOWN
    assert report.fetched == 0
    assert "for another zone" in caplog.text
    assert "hostnames we do not have" in caplog.text


def test_a_burst_of_5000_hints_is_handed_to_the_sync_loop_not_fetched_one_by_one(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    from domains.push.receiver import Notice
    from domains.push.services import hint_record

    domains = DomainFactory.create_batch(
        250, organization=acme, cloudflare_id="", next_sync_at=None, status=DomainStatus.ACTIVE
    )
    for index, d in enumerate(domains):
        Domain.objects.filter(pk=d.pk).update(cloudflare_id=f"cf-{index}")
    for n in range(5000):  # 20 events for each of 250 domains
        hint_record(Notice(f"e{n}", "ssl.x", cloudflare_sim.zone_id, f"cf-{n % 250}", ""))
    before = len(cloudflare_sim.requests)

    report = hints_process(limit=5000)

    assert report.handed_over == 250
    assert report.fetched == 0
    assert len(cloudflare_sim.requests) == before  # the sync loop lists them: 5 calls, later
    assert Domain.objects.filter(next_sync_at__isnull=False).count() == 250
    assert not CloudflareHint.objects.filter(outcome=HintOutcome.WAITING).exists()


def test_a_domain_push_reports_on_is_polled_less_but_still_polled(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from sandbox.cloudflare import Delays

    cloudflare_sim.configure(delays=Delays(issuance=3600.0, deployment=3600.0, dns_cache=0.0))
    cloudflare_sim.set_cname(domain.hostname, True)
    soon = timezone.now() + timedelta(seconds=60)
    Domain.objects.filter(pk=domain.pk).update(next_sync_at=soon)

    post(client, saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname))
    hints_process()

    domain.refresh_from_db()
    assert domain.ssl_status == "pending_issuance"
    assert domain.next_sync_at is not None
    wait = (domain.next_sync_at - timezone.now()).total_seconds()
    assert settings.PUSH_BACKSTOP_SECONDS - 5 < wait <= settings.PUSH_BACKSTOP_SECONDS


def _window_start() -> datetime:
    """A moment 10 s into a rate-budget window two windows ahead: fresh, and far enough from
    its end that a test's 30 s stay in it."""
    window = int(settings_module.CLOUDFLARE_RATE_WINDOW)
    return datetime.fromtimestamp((int(time.time()) // window + 2) * window + 10, UTC)


def _spend_half_the_bulk_budget() -> None:
    bulk = int(settings_module.CLOUDFLARE_RATE_LIMIT) - int(
        settings_module.CLOUDFLARE_RATE_RESERVED
    )
    budget.acquire("bulk", cost=math.ceil(bulk * push_services.EAGER_SHARE), wait=False)


def test_while_the_budget_has_room_each_step_is_acted_on_at_once(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, settings: Any
) -> None:
    settings.PUSH_SETTLE_SECONDS = 30
    cloudflare_sim.configure(delays=Delays(issuance=5))
    start = _window_start()
    body = functools.partial(saas_body, cloudflare_sim, domain.cloudflare_id, domain.hostname)
    before = gets(cloudflare_sim)

    with time_machine.travel(start):
        cloudflare_sim.set_cname(domain.hostname, True)
        post(client, body(suffix="v", event="validation.succeeded", ssl="pending_issuance"))
        first = hints_process()
        domain.refresh_from_db()
        issuing = domain.ssl_status
    with time_machine.travel(start + timedelta(seconds=6)):
        post(client, body(suffix="d", event="deployment.succeeded", ssl="active"))
        second = hints_process()

    assert (first.fetched, first.applied) == (1, 1)
    assert issuing == "pending_issuance"  # the page shows the step as it happens
    assert (second.fetched, second.applied) == (1, 1)
    assert gets(cloudflare_sim) == before + 2
    domain.refresh_from_db()
    assert domain.status == DomainStatus.ACTIVE


def test_with_half_the_budget_spent_a_passing_step_waits_so_the_step_after_it_costs_no_call(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, settings: Any
) -> None:
    settings.PUSH_SETTLE_SECONDS = 30
    cloudflare_sim.set_cname(domain.hostname, True)
    start = _window_start()
    body = functools.partial(saas_body, cloudflare_sim, domain.cloudflare_id, domain.hostname)
    before = gets(cloudflare_sim)

    with time_machine.travel(start):
        _spend_half_the_bulk_budget()
        post(client, body(suffix="v", event="validation.succeeded", ssl="pending_issuance"))
    with time_machine.travel(start + timedelta(seconds=2)):
        early = hints_process()
    with time_machine.travel(start + timedelta(seconds=10)):
        post(client, body(suffix="d", event="deployment.succeeded", ssl="active"))
    with time_machine.travel(start + timedelta(seconds=11)):
        report = hints_process()

    assert (early.fetched, early.remaining) == (0, 0)
    assert (report.fetched, report.applied, report.coalesced) == (1, 1, 1)
    assert gets(cloudflare_sim) == before + 1
    domain.refresh_from_db()
    assert domain.status == DomainStatus.ACTIVE


def test_with_half_the_budget_spent_a_passing_step_alone_is_acted_on_once_it_has_settled(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, settings: Any
) -> None:
    settings.PUSH_SETTLE_SECONDS = 30
    cloudflare_sim.set_cname(domain.hostname, True)
    start = _window_start()

    with time_machine.travel(start):
        _spend_half_the_bulk_budget()
        post(client, saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname))
    with time_machine.travel(start + timedelta(seconds=30)):
        report = hints_process()

    assert (report.fetched, report.applied) == (1, 1)
    assert CloudflareHint.objects.get().outcome == HintOutcome.APPLIED


def test_hints_acted_on_together_cost_one_call_even_within_one_tick_of_the_clock(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain
) -> None:
    cloudflare_sim.set_cname(domain.hostname, True)
    body = functools.partial(saas_body, cloudflare_sim, domain.cloudflare_id, domain.hostname)

    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        post(client, body(suffix="v", event="validation.succeeded", ssl="pending_issuance"))
        post(client, body(suffix="d", event="deployment.succeeded", ssl="active"))
        report = hints_process()

    assert (report.fetched, report.applied, report.coalesced, report.remaining) == (1, 1, 1, 0)


def test_push_counts_as_heard_only_while_hostnames_notifications_keep_coming(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, settings: Any
) -> None:
    now = timezone.now()
    assert not push_heard(now)  # nothing came yet
    post(client, {"text": "Hello World"})  # the dashboard's test message: not a hostname's
    assert not push_heard(now)

    post(client, saas_body(cloudflare_sim, domain.cloudflare_id, domain.hostname))

    assert push_heard(timezone.now())
    assert not push_heard(timezone.now() + timedelta(hours=1, seconds=1))
    settings.CLOUDFLARE_WEBHOOK_SECRET = ""
    assert not push_heard(timezone.now())


def test_while_push_is_heard_pending_domains_are_polled_at_the_backstop_pace(
    client: Client, cloudflare_sim: CloudflareSandbox, domain: Domain, settings: Any
) -> None:
    from domains import sync

    Domain.objects.filter(pk=domain.pk).update(next_sync_at=timezone.now() - timedelta(seconds=1))
    sync.run_cycle()
    domain.refresh_from_db()
    unheard = (domain.next_sync_at - timezone.now()).total_seconds()
    post(client, saas_body(cloudflare_sim, "another-id", "other.acme-customer.dev"))
    Domain.objects.filter(pk=domain.pk).update(next_sync_at=timezone.now() - timedelta(seconds=1))

    sync.run_cycle()

    domain.refresh_from_db()
    assert domain.status == DomainStatus.PENDING
    heard = (domain.next_sync_at - timezone.now()).total_seconds()
    assert unheard < 120  # Cloudflare's own backoff: about a minute
    assert settings.PUSH_BACKSTOP_SECONDS - 5 < heard <= settings.PUSH_BACKSTOP_SECONDS


def test_a_domain_registered_while_push_is_heard_waits_for_push_not_a_check_in_30_s(
    client: Client, cloudflare_sim: CloudflareSandbox, acme: Organization, settings: Any
) -> None:
    quiet = domain_register(organization=acme, hostname="quiet.acme-customer.dev").domain
    post(client, saas_body(cloudflare_sim, "another-id", "other.acme-customer.dev"))

    heard = domain_register(organization=acme, hostname="heard.acme-customer.dev").domain

    now = timezone.now()
    quiet.refresh_from_db()
    heard.refresh_from_db()
    assert heard.status == DomainStatus.PENDING
    assert heard.dns_records  # what to create is known from Cloudflare's first answer
    assert (quiet.next_sync_at - now).total_seconds() <= 30
    wait = (heard.next_sync_at - now).total_seconds()
    assert settings.PUSH_BACKSTOP_SECONDS - 5 < wait <= settings.PUSH_BACKSTOP_SECONDS
