"""Domain workflows against the Cloudflare and DNS simulators over real loopback HTTP/DNS."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization, User
from domains.cloudflare import CloudflareRateLimitedError
from domains.errors import DomainError
from domains.models import Domain, DomainEvent, DomainEventKind, DomainStatus
from domains.services import (
    describe_error,
    domain_apply_remote,
    domain_check_now,
    domain_delete,
    domain_finish_deletion,
    domain_finish_registration,
    domain_register,
)
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db


def cf_hostnames(sim: CloudflareSandbox) -> list[str]:
    return sorted(h["hostname"] for h in sim.hostnames())


def wait_until_cloudflare_has_a_hostname(sim: CloudflareSandbox) -> None:
    """The slow create our client gave up on still completes at Cloudflare, a moment later."""
    deadline = time.monotonic() + 5
    while not cf_hostnames(sim) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cf_hostnames(sim), "the simulator never finished the slow create"


def test_registering_a_domain_creates_one_cloudflare_hostname_and_shows_the_records(
    acme: Organization, alice: User, cloudflare_sim: CloudflareSandbox
) -> None:
    registration = domain_register(
        organization=acme, hostname=" App.Shop.test-customer.dev. ", actor=alice
    )

    domain = registration.domain
    assert domain.hostname == "app.shop.test-customer.dev"
    assert domain.status == DomainStatus.PENDING
    assert domain.cloudflare_id
    assert cf_hostnames(cloudflare_sim) == ["app.shop.test-customer.dev"]
    cname = domain.dns_records[0]
    assert (cname["type"], cname["host"], cname["value"]) == ("CNAME", "app.shop", "dcv.pcnaid.com")
    kinds = list(DomainEvent.objects.filter(domain=domain).values_list("kind", flat=True))
    assert set(kinds) >= {DomainEventKind.CREATED, DomainEventKind.REGISTERED}


def test_bad_input_is_refused_before_anything_is_sent_to_cloudflare(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    with pytest.raises(DomainError) as caught:
        domain_register(organization=acme, hostname="app.example.com")

    assert caught.value.code == "example_domain"
    assert caught.value.field == "hostname"
    assert cloudflare_sim.requests == []
    assert not Domain.objects.exists()


def test_a_hostname_taken_by_another_organization_is_refused_without_saying_by_whom(
    acme: Organization, umbrella: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain_register(organization=umbrella, hostname="shared.test-customer.dev")

    with pytest.raises(DomainError) as caught:
        domain_register(organization=acme, hostname="SHARED.test-customer.dev")

    assert caught.value.code == "hostname_taken"
    assert "Umbrella" not in caught.value.message
    assert Domain.objects.get().organization == umbrella


def test_a_hostname_already_in_the_organization_says_so_not_the_other_account(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain_register(organization=acme, hostname="twice.test-customer.dev")

    with pytest.raises(DomainError) as caught:
        domain_register(organization=acme, hostname="twice.test-customer.dev")

    assert caught.value.code == "already_added"
    assert caught.value.message == "twice.test-customer.dev is already one of your domains."
    assert "other" not in caught.value.message


def test_the_plan_limit_refuses_the_fourth_domain_on_free(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    for n in range(3):
        domain_register(organization=acme, hostname=f"d{n}.test-customer.dev")

    with pytest.raises(DomainError) as caught:
        domain_register(organization=acme, hostname="d4.test-customer.dev")

    assert caught.value.code == "plan_limit"
    assert "Free plan allows 3" in caught.value.message
    assert Domain.objects.filter(organization=acme).count() == 3
    assert len(cf_hostnames(cloudflare_sim)) == 3


def test_a_cloudflare_outage_at_create_keeps_the_domain_registering_until_it_is_finished(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 1
    cloudflare_sim.inject_fault("503", method="POST")

    domain = domain_register(organization=acme, hostname="late.test-customer.dev").domain

    assert domain.status == DomainStatus.REGISTERING
    assert "We will retry" in domain.last_error
    assert cf_hostnames(cloudflare_sim) == []
    cloudflare_sim.clear_faults()
    domain = domain_finish_registration(domain=Domain.objects.get(pk=domain.pk))
    assert domain.status == DomainStatus.PENDING
    assert cf_hostnames(cloudflare_sim) == ["late.test-customer.dev"]


def test_a_create_that_timed_out_after_cloudflare_created_it_is_adopted_not_duplicated(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings
) -> None:
    settings.CLOUDFLARE_READ_TIMEOUT = 0.3
    settings.CLOUDFLARE_MAX_RETRIES = 0
    # Cloudflare creates the hostname but answers too late: we never see the id.
    cloudflare_sim.inject_fault("slow", method="POST", count=1, delay=1.0)

    domain = domain_register(organization=acme, hostname="slow.test-customer.dev").domain
    assert domain.status == DomainStatus.REGISTERING

    wait_until_cloudflare_has_a_hostname(cloudflare_sim)
    domain = domain_finish_registration(domain=Domain.objects.get(pk=domain.pk))

    assert domain.status == DomainStatus.PENDING
    assert cf_hostnames(cloudflare_sim) == ["slow.test-customer.dev"]
    assert domain.cloudflare_id == cloudflare_sim.hostnames()[0]["id"]


def test_removing_a_domain_offboards_it_from_cloudflare_and_keeps_its_history(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="bye.test-customer.dev").domain

    assert domain_delete(domain=domain) is None

    assert not Domain.objects.exists()
    assert cf_hostnames(cloudflare_sim) == []
    kinds = set(
        DomainEvent.objects.filter(hostname="bye.test-customer.dev").values_list("kind", flat=True)
    )
    assert {DomainEventKind.CREATED, DomainEventKind.DELETING, DomainEventKind.DELETED} <= kinds


@pytest.mark.django_db(transaction=True)
def test_a_removal_finished_by_another_worker_meanwhile_is_not_finished_twice(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="twice.test-customer.dev").domain
    Domain.objects.filter(pk=domain.pk).update(status=DomainStatus.DELETING)
    stale = Domain.objects.get()  # what the second worker read before the first finished

    first = domain_finish_deletion(domain=Domain.objects.get())
    second = domain_finish_deletion(domain=stale)

    assert (first, second) == (None, None)
    assert DomainEvent.objects.filter(kind=DomainEventKind.DELETED).count() == 1
    assert cf_hostnames(cloudflare_sim) == []


def test_a_failed_removal_stays_deleting_and_finishes_later_without_an_orphan(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 0
    domain = domain_register(organization=acme, hostname="stuck.test-customer.dev").domain
    cloudflare_sim.inject_fault("500", method="DELETE")

    remaining = domain_delete(domain=domain)

    assert remaining is not None
    assert Domain.objects.get().status == DomainStatus.DELETING
    assert cf_hostnames(cloudflare_sim) == ["stuck.test-customer.dev"]
    cloudflare_sim.clear_faults()
    assert domain_finish_deletion(domain=Domain.objects.get()) is None
    assert cf_hostnames(cloudflare_sim) == []
    assert not Domain.objects.exists()


def test_removing_a_domain_whose_registration_answer_was_lost_finds_it_by_name(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings
) -> None:
    settings.CLOUDFLARE_READ_TIMEOUT = 0.3
    settings.CLOUDFLARE_MAX_RETRIES = 0
    cloudflare_sim.inject_fault("slow", method="POST", count=1, delay=0.8)
    domain = domain_register(organization=acme, hostname="lost.test-customer.dev").domain
    assert not domain.cloudflare_id

    wait_until_cloudflare_has_a_hostname(cloudflare_sim)
    assert domain_delete(domain=domain) is None
    assert cf_hostnames(cloudflare_sim) == []


def test_check_now_sees_the_cname_and_cloudflare_makes_the_domain_active(
    acme: Organization,
    alice: User,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
) -> None:
    domain = domain_register(organization=acme, hostname="go.test-customer.dev").domain
    dns_sandbox.cname("go.test-customer.dev", "dcv.pcnaid.com")

    result = domain_check_now(domain=domain, actor=alice)

    assert result.dns.verdict == "points_to_us"
    assert result.domain.status == DomainStatus.ACTIVE
    assert result.domain.is_ready
    assert result.domain.certificate_expires_at is not None
    assert result.domain.activated_at is not None


def test_check_now_is_throttled_per_domain(
    acme: Organization, cloudflare_sim: CloudflareSandbox, dns_sandbox: DnsSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="twice.test-customer.dev").domain
    domain_check_now(domain=domain)

    with pytest.raises(DomainError) as caught:
        domain_check_now(domain=domain)

    assert caught.value.code == "throttled"
    assert caught.value.retry_after


def test_check_now_reports_a_missing_cname_in_words(
    acme: Organization, cloudflare_sim: CloudflareSandbox, dns_sandbox: DnsSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="nodns.test-customer.dev").domain

    result = domain_check_now(domain=domain)

    assert result.dns.verdict == "missing"
    assert result.domain.status == DomainStatus.PENDING
    assert "nodns.test-customer.dev" in result.dns.message


def test_applying_the_same_cloudflare_answer_twice_records_nothing_new(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.cloudflare import CloudflareClient

    domain = domain_register(organization=acme, hostname="same.test-customer.dev").domain
    remote = CloudflareClient().get(domain.cloudflare_id)
    domain_apply_remote(domain=domain, remote=remote)
    events = DomainEvent.objects.count()

    domain_apply_remote(domain=Domain.objects.get(pk=domain.pk), remote=remote)

    assert DomainEvent.objects.count() == events


def test_a_registration_finished_by_two_processes_at_once_is_recorded_once(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.cloudflare import CloudflareClient

    # Both the request and the sync loop hold a copy read while the domain was registering.
    domain = domain_register(organization=acme, hostname="race.test-customer.dev").domain
    Domain.objects.filter(pk=domain.pk).update(
        status=DomainStatus.REGISTERING, cloudflare_id="", cloudflare_status=""
    )
    DomainEvent.objects.filter(domain=domain).exclude(kind=DomainEventKind.CREATED).delete()
    request_copy = Domain.objects.get(pk=domain.pk)
    sync_copy = Domain.objects.get(pk=domain.pk)
    remote = CloudflareClient().get(domain.cloudflare_id)

    domain_apply_remote(domain=request_copy, remote=remote)
    late = domain_apply_remote(domain=sync_copy, remote=remote)

    kinds = list(DomainEvent.objects.filter(domain=domain).values_list("kind", flat=True))
    assert sorted(kinds) == sorted(
        [DomainEventKind.CREATED, DomainEventKind.REGISTERED, DomainEventKind.STATUS_CHANGED]
    )
    assert late.cloudflare_id == remote.id
    assert late.status == DomainStatus.PENDING


def test_applying_an_answer_to_a_domain_removed_meanwhile_writes_nothing(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.cloudflare import CloudflareClient

    domain = domain_register(organization=acme, hostname="gone.test-customer.dev").domain
    remote = CloudflareClient().get(domain.cloudflare_id)
    Domain.objects.filter(pk=domain.pk).delete()
    events = DomainEvent.objects.count()
    domain.status, domain.cloudflare_id = DomainStatus.REGISTERING, ""  # a copy read before

    domain_apply_remote(domain=domain, remote=remote)

    assert not Domain.objects.filter(hostname="gone.test-customer.dev").exists()
    assert DomainEvent.objects.count() == events


def test_a_hostname_cloudflare_lost_goes_back_to_registering_and_says_when(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.services import domain_forget_remote

    domain = domain_register(organization=acme, hostname="forgot.test-customer.dev").domain
    before = Domain.objects.get(pk=domain.pk).updated_at

    domain_forget_remote(domain)

    stored = Domain.objects.get(pk=domain.pk)
    assert stored.status == DomainStatus.REGISTERING
    assert stored.cloudflare_id == ""
    assert stored.updated_at > before
    assert domain.updated_at == stored.updated_at


def test_readiness_needs_both_hostname_and_certificate_active(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.cloudflare import CloudflareClient

    domain = domain_register(organization=acme, hostname="half.test-customer.dev").domain
    cloudflare_sim.set_state(
        "half.test-customer.dev", status="active", ssl_status="pending_issuance"
    )

    domain = domain_apply_remote(domain=domain, remote=CloudflareClient().get(domain.cloudflare_id))

    assert domain.status == DomainStatus.PENDING
    assert not domain.is_ready


def test_a_blocked_hostname_needs_attention_and_says_why(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.explain import explain

    domain = domain_register(organization=acme, hostname="blocked.test-customer.dev").domain

    assert domain.status == DomainStatus.FAILED
    assert explain(domain, target="dcv.pcnaid.com").headline == "Blocked by Cloudflare"


def test_an_orm_update_of_a_domain_runs_exactly_one_statement(acme: Organization) -> None:
    domain = DomainFactory(organization=acme)

    with CaptureQueriesContext(connection) as queries:
        Domain.objects.filter(pk=domain.pk).update(last_error="Cloudflare timed out.")

    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["UPDATE"]


@pytest.mark.parametrize(
    ("retry_after", "words"), [(1, "about 1 second."), (1.2, "about 2 seconds.")]
)
def test_a_rate_limit_says_when_we_retry_in_proper_words(retry_after: float, words: str) -> None:
    message = describe_error(CloudflareRateLimitedError("slow down", retry_after=retry_after))

    assert message.endswith(f"We will retry in {words}")
