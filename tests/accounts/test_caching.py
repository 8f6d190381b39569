"""Every committed write to an organization's domains, their history or its subscription moves
its cache version on; a write rolled back, or the sync loop's bookkeeping alone, does not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.caching import organization_key
from accounts.models import Organization
from billing.models import Subscription
from domains.models import Domain, DomainEvent, DomainStatus

pytestmark = pytest.mark.django_db


def version(organization: Organization) -> int:
    return Organization.objects.get(pk=organization.pk).cache_version


@pytest.fixture
def moves(django_capture_on_commit_callbacks: Any) -> Callable[..., int]:
    """How far a write, once committed, moves an organization's version on."""

    def measure(organization: Organization, write: Callable[[], object]) -> int:
        before = version(organization)
        # Each test runs in a transaction that never commits: run what the commit would.
        with django_capture_on_commit_callbacks(execute=True):
            write()
            assert version(organization) == before  # not before the commit
        return version(organization) - before

    return measure


@pytest.fixture
def acme_domain(acme: Organization) -> Domain:
    return Domain.objects.create(organization=acme, hostname="app.acme.test-customer.dev")


@pytest.fixture
def umbrella_domain(umbrella: Organization) -> Domain:
    return Domain.objects.create(organization=umbrella, hostname="app.umbrella.test-customer.dev")


def test_adding_a_domain_moves_its_organization_on_and_no_other(
    acme: Organization, umbrella: Organization, moves: Callable[..., int]
) -> None:
    create = lambda: Domain.objects.create(organization=acme, hostname="a.acme.test-customer.dev")  # noqa: E731

    assert moves(acme, create) == 1
    assert version(umbrella) == 0


def test_saving_a_domain_moves_it_on_unless_only_bookkeeping_changed(
    acme: Organization, acme_domain: Domain, moves: Callable[..., int]
) -> None:
    acme_domain.status = DomainStatus.ACTIVE
    assert moves(acme, acme_domain.save) == 1
    assert moves(acme, lambda: acme_domain.save(update_fields=["status"])) == 1

    acme_domain.next_sync_at = timezone.now()
    assert moves(acme, lambda: acme_domain.save(update_fields=["next_sync_at"])) == 0


def test_an_update_moves_on_every_organization_it_wrote_to(
    acme: Organization,
    acme_domain: Domain,
    umbrella: Organization,
    umbrella_domain: Domain,
    django_capture_on_commit_callbacks: Any,
) -> None:
    both = Domain.objects.filter(pk__in=[acme_domain.pk, umbrella_domain.pk])
    before = version(acme), version(umbrella)

    with django_capture_on_commit_callbacks(execute=True):
        assert both.update(status=DomainStatus.ACTIVE, last_synced_at=timezone.now()) == 2

    assert (version(acme), version(umbrella)) == (before[0] + 1, before[1] + 1)
    assert set(both.values_list("status", flat=True)) == {DomainStatus.ACTIVE}


def test_an_update_that_matches_nothing_moves_nothing_on(
    acme: Organization, moves: Callable[..., int]
) -> None:
    update = lambda: Domain.objects.filter(hostname="nope").update(status="active")  # noqa: E731

    assert moves(acme, update) == 0


def test_the_sync_loops_scheduling_moves_nothing_on(
    acme: Organization, acme_domain: Domain, moves: Callable[..., int]
) -> None:
    rows = Domain.objects.filter(pk=acme_domain.pk)
    later = timezone.now() + dt.timedelta(minutes=5)

    assert moves(acme, lambda: rows.update(next_sync_at=later, sync_attempts=2)) == 0
    acme_domain.next_sync_at = later
    assert moves(acme, lambda: Domain.objects.bulk_update([acme_domain], ["next_sync_at"])) == 0


def test_bulk_writes_move_every_owner_on(
    acme: Organization,
    acme_domain: Domain,
    umbrella: Organization,
    umbrella_domain: Domain,
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = version(acme), version(umbrella)
    acme_domain.status = umbrella_domain.status = DomainStatus.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        Domain.objects.bulk_update([acme_domain, umbrella_domain], ["status", "next_sync_at"])
    with django_capture_on_commit_callbacks(execute=True):
        Domain.objects.bulk_create(
            [
                Domain(organization=acme, hostname="b.acme.test-customer.dev"),
                Domain(organization=umbrella, hostname="b.umbrella.test-customer.dev"),
            ]
        )

    assert (version(acme), version(umbrella)) == (before[0] + 2, before[1] + 2)


def test_deleting_domains_moves_their_organization_on(
    acme: Organization, acme_domain: Domain, moves: Callable[..., int]
) -> None:
    other = Domain.objects.create(organization=acme, hostname="b.acme.test-customer.dev")

    assert moves(acme, acme_domain.delete) == 1
    assert moves(acme, Domain.objects.filter(pk=other.pk).delete) == 1


def test_a_domain_event_moves_its_organization_on(
    acme: Organization, acme_domain: Domain, moves: Callable[..., int]
) -> None:
    event = DomainEvent(
        domain=acme_domain, organization=acme, hostname=acme_domain.hostname, kind="error"
    )

    assert moves(acme, event.save) == 1
    assert (
        moves(
            acme,
            lambda: DomainEvent.objects.bulk_create(
                [
                    DomainEvent(
                        domain=acme_domain,
                        organization=acme,
                        hostname=acme_domain.hostname,
                        kind="error",
                    )
                ]
            ),
        )
        == 1
    )


def test_a_subscription_change_moves_its_organization_on(
    acme: Organization, moves: Callable[..., int]
) -> None:
    now = timezone.now()
    subscription = Subscription(
        organization=acme, stripe_subscription_id="sub_1", status="active", stripe_state_at=now
    )
    assert moves(acme, subscription.save) == 1

    subscription.status = "past_due"
    assert moves(acme, subscription.save) == 1
    assert moves(acme, subscription.delete) == 1


def test_a_write_rolled_back_moves_nothing_on(acme: Organization, acme_domain: Domain) -> None:
    before = version(acme)

    def write_then_fail() -> None:
        with transaction.atomic():
            Domain.objects.filter(pk=acme_domain.pk).update(status=DomainStatus.ACTIVE)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert version(acme) == before


def test_keys_differ_by_organization_version_and_parts(
    acme: Organization, umbrella: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    key = organization_key(acme, "list", "active", 1)

    assert key == organization_key(acme, "list", "active", 1)
    assert key != organization_key(umbrella, "list", "active", 1)
    assert key != organization_key(acme, "list", "active", 2)
    with django_capture_on_commit_callbacks(execute=True):
        Domain.objects.create(organization=acme, hostname="a.acme.test-customer.dev")
    assert key != organization_key(Organization.objects.get(pk=acme.pk), "list", "active", 1)
