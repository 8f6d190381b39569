"""The authentication backend loads a session's user together with their memberships."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.access import current_membership, user_memberships
from accounts.backends import MEMBERSHIPS_ATTRIBUTE, AuthenticationBackend
from accounts.models import Organization, User
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_alice_and_her_memberships_come_from_one_query(alice: User, acme: Organization) -> None:
    side = OrganizationFactory(name="Side project")
    MembershipFactory(user=alice, organization=side)

    with CaptureQueriesContext(connection) as queries:
        user = AuthenticationBackend().get_user(alice.pk)
        memberships = getattr(user, MEMBERSHIPS_ATTRIBUTE)
        names = [m.organization.name for m in memberships]
        users = {m.user for m in memberships}

    assert len(queries) == 1
    assert user == alice
    assert names == ["Acme", "Side project"]  # oldest first
    assert users == {user}


def test_a_user_without_memberships_is_loaded_the_usual_way(db: None) -> None:
    staff = UserFactory(username="staff", is_staff=True)

    user = AuthenticationBackend().get_user(staff.pk)

    assert user == staff
    assert not hasattr(user, MEMBERSHIPS_ATTRIBUTE)


def test_an_inactive_user_is_not_signed_in(alice: User, acme: Organization) -> None:
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert AuthenticationBackend().get_user(alice.pk) is None


def test_an_unknown_user_id_is_nobody(db: None) -> None:
    assert AuthenticationBackend().get_user(424242) is None


def test_a_signed_in_request_reads_the_current_membership_without_another_query(
    client: Client, bob: User, acme: Organization
) -> None:
    client.force_login(bob)
    request = RequestFactory().get("/")
    request.session = client.session

    request.user = get_user(request)  # the user and memberships query
    with CaptureQueriesContext(connection) as queries:
        membership = current_membership(request)
        everyone = user_memberships(request)

    assert len(queries) == 0
    assert membership is not None
    assert membership.organization == acme
    assert everyone == [membership]


def test_the_current_organization_is_the_users_choice_not_the_oldest(
    client: Client, charlie: User, acme: Organization
) -> None:
    MembershipFactory(user=charlie, organization=acme)
    User.objects.filter(pk=charlie.pk).update(current_organization=acme)
    client.force_login(charlie)

    response = client.get("/dashboard/")

    assert response.context["organization"] == acme
