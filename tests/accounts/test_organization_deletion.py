"""Deleting an organization (owners, with its name typed): at once nobody can open it and its
tokens stop working; then its hostnames and origin records leave Cloudflare, its subscription
is canceled at Stripe, and the row goes, with nothing left behind at either."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from accounts.models import (
    ApiToken,
    AuditEvent,
    Invitation,
    Membership,
    Organization,
    Role,
    User,
)
from accounts.services import organization_delete
from billing.models import StripeEvent, StripeEventStatus, Subscription
from billing.plans import PlanKey, get_plan
from billing.services import checkout_start, customer_ensure
from domains.closing import organization_finish_deleting, organizations_finish_deleting
from domains.models import (
    Domain,
    DomainEvent,
    DomainStatus,
    Origin,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from domains.origins.services import origin_create, origins_sync
from domains.services import domain_register
from domains.sync import run_cycle
from domains.webhooks.services import webhook_endpoint_create
from sandbox.cloudflare import CloudflareSandbox
from sandbox.stripe import StripeSandbox
from tests.fixtures.celery_worker import Worker
from tests.fixtures.stripe import post_webhook, subscribe

pytestmark = pytest.mark.django_db

APP = "93.184.215.14"  # a public address (nothing connects to it here)


def ask(client: Client, user: User, typed: str) -> Any:
    client.force_login(user)
    return client.post("/organization/delete/", {"confirm_name": typed})


def background(*, hours: float = 0) -> None:
    """What the workers do in a minute: a sync cycle, the origins' step, the deletions' step.
    `hours`: that much later (past any retry's backoff)."""
    run_cycle(now=timezone.now() + timedelta(hours=hours), trigger="test")
    origins_sync()
    organizations_finish_deleting()


@pytest.fixture
def acme_at_cloudflare(
    acme_on_pro: Organization,
    umbrella: Organization,
    cloudflare_sim: CloudflareSandbox,
    stripe_sim: StripeSandbox,
) -> list[Domain]:
    """Acme on Pro with three domains served by its origin; Umbrella with one of its own.
    (Acme's subscription is ours only: Stripe's simulator has none for it.)"""
    acme = acme_on_pro
    domains = [
        domain_register(organization=acme, hostname=f"{name}.acme-customer.dev").domain
        for name in ("app", "shop", "docs")
    ]
    origin_create(organization=acme, name="Production", address=APP)
    origins_sync()
    domain_register(organization=umbrella, hostname="app.umbrella-customer.dev")
    return domains


# -- asking --------------------------------------------------------------------------------------
def test_an_owner_deletes_the_organization_by_typing_its_name_and_nobody_can_open_it_any_more(
    client: Client, alice: User, bob: User, acme: Organization, acme_token: str
) -> None:
    Invitation.objects.create(
        organization=acme,
        email="new@acme.test-customer.dev",
        digest="d" * 64,
        expires_at=timezone.now() + timedelta(days=7),
    )

    response = ask(client, alice, "Acme")

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    acme.refresh_from_db()
    assert acme.deletion_requested_at is not None
    assert acme.deletion_requested_by == alice
    assert not Membership.objects.filter(organization=acme).exists()
    assert not ApiToken.objects.filter(organization=acme).active().exists()
    assert not Invitation.objects.filter(organization=acme).pending().exists()
    event = AuditEvent.objects.get(organization=acme, action="organization.deletion_requested")
    assert event.actor_user == alice
    assert event.changes["members"] == ["alice", "bob"]
    page = client.get("/dashboard/").content.decode()
    assert "Acme is being deleted" in page
    assert "You are now in a new, empty organization of your own." in page  # Acme was her only
    api = Client().get("/api/v1/domains", HTTP_AUTHORIZATION=f"Bearer {acme_token}")
    assert api.status_code == 401


def test_someone_whose_only_organization_was_deleted_gets_a_fresh_personal_one(
    client: Client, alice: User, bob: User, acme: Organization
) -> None:
    organization_delete(organization=acme, actor=alice)
    client.force_login(bob)

    page = client.get("/dashboard/")

    assert page.status_code == 200
    (membership,) = Membership.objects.filter(user=bob)
    assert membership.organization != acme
    assert membership.organization.name == "bob's organization"


def test_an_owner_with_another_organization_is_not_told_of_a_new_one(
    client: Client, alice: User, acme: Organization, umbrella: Organization
) -> None:
    Membership.objects.create(user=alice, organization=umbrella, role=Role.MEMBER)

    ask(client, alice, "Acme")
    page = client.get("/dashboard/").content.decode()

    assert "Acme is being deleted" in page
    assert "new, empty organization" not in page


def test_a_mistyped_name_deletes_nothing_and_says_what_to_type(
    client: Client, alice: User, acme: Organization
) -> None:
    response = ask(client, alice, "acme")

    assert response.status_code == 400
    page = response.content.decode().replace("&#x27;", "'")
    assert "Type the organization's name, “Acme”, exactly as shown" in page
    acme.refresh_from_db()
    assert acme.deletion_requested_at is None
    assert Membership.objects.filter(organization=acme).count() == 1


def test_asking_twice_deletes_once(alice: User, acme: Organization) -> None:
    assert organization_delete(organization=acme, actor=alice) is True
    assert organization_delete(organization=acme, actor=alice) is False

    assert AuditEvent.objects.filter(action="organization.deletion_requested").count() == 1


def test_the_page_says_what_deleting_does_to_an_owner_only(
    client: Client, alice: User, bob: User, acme: Organization
) -> None:
    client.force_login(alice)
    owner_page = client.get("/organization/").content.decode()
    client.force_login(bob)
    member_page = client.get("/organization/").content.decode()

    assert 'data-testid="delete-organization"' in owner_page
    assert "every domain is removed from Cloudflare" in owner_page
    assert 'data-testid="delete-organization"' not in member_page


# -- offboarding ---------------------------------------------------------------------------------
def test_deleting_leaves_no_hostname_and_no_origin_record_at_the_cloudflare_simulator(
    alice: User,
    acme: Organization,
    umbrella: Organization,
    acme_at_cloudflare: list[Domain],
    cloudflare_sim: CloudflareSandbox,
) -> None:
    origin = Origin.objects.get(organization=acme)
    assert len(cloudflare_sim.hostnames()) == 4
    assert [r["name"] for r in cloudflare_sim.dns_records()] == [origin.record_name]

    organization_delete(organization=acme, actor=alice)
    assert set(Domain.objects.filter(organization=acme).values_list("status", flat=True)) == {
        DomainStatus.DELETING
    }
    background()

    assert [h["hostname"] for h in cloudflare_sim.hostnames()] == ["app.umbrella-customer.dev"]
    assert cloudflare_sim.dns_records() == []
    assert not Organization.objects.filter(pk=acme.pk).exists()
    assert not DomainEvent.objects.filter(organization_id=acme.pk).exists()
    assert Domain.objects.filter(organization=umbrella).count() == 1


def test_while_cloudflare_fails_the_organization_waits_and_goes_once_its_hostnames_are_gone(
    alice: User, acme: Organization, acme_at_cloudflare: list[Domain], cloudflare_sim: Any
) -> None:
    organization_delete(organization=acme, actor=alice)
    cloudflare_sim.inject_fault("500", method="DELETE")

    background()

    assert Organization.objects.filter(pk=acme.pk).exists()
    assert Domain.objects.filter(organization=acme).count() == 3
    assert "Cloudflare" in Domain.objects.filter(organization=acme).first().last_error  # type: ignore[union-attr]
    cloudflare_sim.clear_faults()

    background(hours=2)

    assert [h["hostname"] for h in cloudflare_sim.hostnames()] == ["app.umbrella-customer.dev"]
    assert cloudflare_sim.dns_records() == []
    assert not Organization.objects.filter(pk=acme.pk).exists()


def test_the_subscription_is_canceled_at_stripe_before_the_row_goes(
    alice: User, acme: Organization, stripe_sim: StripeSandbox
) -> None:
    sub = subscribe(stripe_sim, acme, "pro")
    assert Subscription.objects.get(organization=acme).status == "active"

    organization_delete(organization=acme, actor=alice)
    organizations_finish_deleting()

    assert stripe_sim.subscription(sub["id"])["status"] == "canceled"
    (body,) = stripe_sim.deferred  # the cancellation's webhook, arriving after the row went
    assert json.loads(body)["type"] == "customer.subscription.deleted"
    assert not Organization.objects.filter(pk=acme.pk).exists()
    assert not Subscription.objects.filter(stripe_subscription_id=sub["id"]).exists()

    assert post_webhook(body, secret=stripe_sim.webhook_secret).status_code == 200
    late = StripeEvent.objects.get(type="customer.subscription.deleted")
    assert (late.status, late.error) == (
        StripeEventStatus.IGNORED,
        "The customer's organization was deleted.",
    )


def test_a_subscription_stripe_has_not_told_us_about_yet_is_canceled_too(
    alice: User, acme: Organization, stripe_sim: StripeSandbox
) -> None:
    organization_delete(organization=acme, actor=alice)
    stripe_sim.hold_events()  # a checkout paid meanwhile, its webhook not here yet
    customer = stripe_sim.create_customer(metadata={"organization_id": str(acme.pk)})
    Organization.objects.filter(pk=acme.pk).update(stripe_customer_id=customer)
    sub = stripe_sim.create_subscription(customer, get_plan(PlanKey.PRO).price_id)
    acme.refresh_from_db()

    assert organization_finish_deleting(acme) is True

    assert stripe_sim.subscription(sub["id"])["status"] == "canceled"


def test_a_checkout_left_open_in_a_browser_cannot_be_paid_once_the_organization_is_deleted(
    alice: User, acme: Organization, stripe_sim: StripeSandbox
) -> None:
    url = checkout_start(organization=acme, plan_key="pro", request_key="left-open-1")
    session_id = url.rsplit("/", 1)[1]

    organization_delete(organization=acme, actor=alice)
    organizations_finish_deleting()
    paid = requests.post(url, data={"card_number": "4242 4242 4242 4242"}, timeout=10)

    assert stripe_sim.state["checkout_sessions"][session_id]["status"] == "expired"
    assert paid.status_code == 402
    assert "This checkout session has expired." in paid.text
    assert stripe_sim.subscriptions() == []
    assert not Organization.objects.filter(pk=acme.pk).exists()


def test_a_subscription_paid_after_the_organization_went_is_canceled_rather_than_charged_again(
    alice: User, acme: Organization, stripe_sim: StripeSandbox
) -> None:
    customer = customer_ensure(organization=acme)
    organization_delete(organization=acme, actor=alice)
    organizations_finish_deleting()
    assert not Organization.objects.filter(pk=acme.pk).exists()

    # A payment Stripe took in the last step's window: its webhooks arrive for nobody.
    sub = stripe_sim.create_subscription(customer, get_plan(PlanKey.PRO).price_id)

    assert stripe_sim.subscription(sub["id"])["status"] == "canceled"
    late = StripeEvent.objects.get(type="customer.subscription.created")
    assert (late.status, late.error) == (
        StripeEventStatus.IGNORED,
        "The customer's organization was deleted; its subscription was canceled.",
    )


def test_while_stripe_refuses_the_organization_stays_and_its_plan_is_canceled_later(
    alice: User, acme: Organization, stripe_sim: StripeSandbox, settings: Any
) -> None:
    sub = subscribe(stripe_sim, acme, "pro")
    organization_delete(organization=acme, actor=alice)
    key, settings.STRIPE_SECRET_KEY = settings.STRIPE_SECRET_KEY, "sk_test_revoked"

    assert organizations_finish_deleting() == 0

    assert Organization.objects.filter(pk=acme.pk).exists()
    assert stripe_sim.subscription(sub["id"])["status"] == "active"
    settings.STRIPE_SECRET_KEY = key

    assert organizations_finish_deleting() == 1
    assert stripe_sim.subscription(sub["id"])["status"] == "canceled"


def test_the_tenants_app_hears_its_domains_removed_before_the_row_goes(
    alice: User, acme: Organization, acme_at_cloudflare: list[Domain], inbox_url: str
) -> None:
    webhook_endpoint_create(organization=acme, url=inbox_url)
    organization_delete(organization=acme, actor=alice)

    background()

    pending = WebhookDelivery.objects.filter(
        message__organization=acme, status=WebhookDeliveryStatus.PENDING
    )
    assert {d.message.type for d in pending} == {"domain.deleted"}
    assert pending.count() == 3
    assert Organization.objects.filter(pk=acme.pk).exists()

    pending.update(status=WebhookDeliveryStatus.SUCCEEDED, next_attempt_at=None)
    organizations_finish_deleting()

    assert not Organization.objects.filter(pk=acme.pk).exists()


def test_staff_delete_an_organization_through_the_same_offboarding_never_by_dropping_the_row(
    staff_client: Client, acme: Organization
) -> None:
    changelist = "/admin/accounts/organization/"

    plain = staff_client.get(f"{changelist}{acme.pk}/delete/")
    response = staff_client.post(
        changelist, {"action": "delete_offboarding", "_selected_action": [acme.pk]}
    )

    assert plain.status_code == 403
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.deletion_requested_at is not None
    assert acme.deletion_requested_by is not None
    assert acme.deletion_requested_by.username == "staff"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_on_a_real_worker_the_organization_leaves_cloudflare_and_then_the_database(
    alice: User,
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    celery_worker: Callable[..., Worker],
) -> None:
    for name in ("app", "shop"):
        domain_register(organization=acme, hostname=f"{name}.acme-customer.dev")
    assert len(cloudflare_sim.hostnames()) == 2
    worker = celery_worker()
    last = [0.0]

    def gone() -> bool:
        # Beat's entries, once a second (the deletion's own kicks come first).
        if time.monotonic() - last[0] >= 1.0:
            for task in ("domains.schedule_sync", "domains.finish_organization_deletions"):
                worker.send(task)
            last[0] = time.monotonic()
        return not Organization.objects.filter(pk=acme.pk).exists()

    organization_delete(organization=acme, actor=alice)
    worker.wait_for(gone)

    assert cloudflare_sim.hostnames() == []
    assert not Domain.objects.exists()
