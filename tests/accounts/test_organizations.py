from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, Organization, Role, User
from accounts.services import organization_ensure_personal
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_in_two_organizations_can_switch_and_it_is_remembered(
    client: Client, bob: User, acme: Organization, umbrella: Organization
) -> None:
    MembershipFactory(user=bob, organization=umbrella, role=Role.ADMIN)
    client.force_login(bob)

    response = client.post("/organizations/switch/", {"organization": umbrella.pk})

    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.current_organization == umbrella
    # Remembered across sessions: a new sign-in lands in the same organization.
    other_device = Client()
    other_device.force_login(bob)
    assert b"Umbrella" in other_device.get("/dashboard/").content
    assert b"<h1>Umbrella</h1>" in other_device.get("/dashboard/").content


def test_switching_to_another_tenants_organization_is_a_404(
    client: Client, alice: User, acme: Organization, umbrella: Organization
) -> None:
    client.force_login(alice)

    response = client.post("/organizations/switch/", {"organization": umbrella.pk})

    assert response.status_code == 404
    alice.refresh_from_db()
    assert alice.current_organization == acme


def test_switching_with_a_malformed_organization_id_is_a_404(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    assert client.post("/organizations/switch/", {"organization": "abc"}).status_code == 404


def test_switching_needs_a_signed_in_user(client: Client, acme: Organization) -> None:
    response = client.post("/organizations/switch/", {"organization": acme.pk})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_switching_ignores_an_offsite_next_url(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    response = client.post(
        "/organizations/switch/", {"organization": acme.pk, "next": "https://evil.test/"}
    )

    assert response["Location"] == "/dashboard/"


def test_the_dashboard_shows_only_the_current_organization(
    client: Client, alice: User, acme: Organization, charlie: User
) -> None:
    client.force_login(alice)

    content = client.get("/dashboard/").content

    assert b"<h1>Acme</h1>" in content
    assert b"Umbrella" not in content


def test_a_staff_user_without_an_organization_gets_a_personal_one_on_the_dashboard(
    client: Client,
) -> None:
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(staff)

    response = client.get("/dashboard/")

    assert response.status_code == 200
    assert Membership.objects.get(user=staff).role == Role.OWNER


def test_ensuring_a_personal_organization_twice_creates_one(alice: User) -> None:
    first = organization_ensure_personal(user=alice)
    second = organization_ensure_personal(user=alice)

    assert first == second
    assert Organization.objects.for_user(alice).count() == 1


def test_personal_organization_slugs_stay_unique() -> None:
    a = UserFactory(username="same")
    b = UserFactory(username="Same")

    org_a = organization_ensure_personal(user=a)
    org_b = organization_ensure_personal(user=b)

    assert org_a.slug != org_b.slug


def test_a_membership_is_unique_per_user_and_organization(bob: User, acme: Organization) -> None:
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=bob, organization=acme, role=Role.ADMIN)
