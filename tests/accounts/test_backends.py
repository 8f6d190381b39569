"""The authentication backend loads a session's user together with their memberships."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user
from django.db import connection
from django.db.models import Model
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.access import current_membership, user_memberships
from accounts.backends import (
    MEMBERSHIPS_ATTRIBUTE,
    AuthenticationBackend,
    load_memberships,
    memberships_of,
)
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


def _values(instance: Model) -> dict[str, object]:
    return {
        field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields
    }


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the written SQL is PostgreSQL's path; CI sets DATABASE_URL and runs this",
)
def test_the_written_sql_loads_exactly_what_the_orm_loads(
    alice: User, acme: Organization, umbrella: Organization
) -> None:
    side = OrganizationFactory(name="Side project", plan="pro")
    MembershipFactory(user=alice, organization=side, role="admin")
    alice.last_login = timezone.now()
    alice.save()

    loaded = load_memberships(alice.pk)
    expected = list(memberships_of(alice.pk))

    assert [_values(m) for m in loaded] == [_values(m) for m in expected]
    assert [_values(m.user) for m in loaded] == [_values(m.user) for m in expected]
    assert [_values(m.organization) for m in loaded] == [_values(m.organization) for m in expected]
    assert [m.user for m in loaded] == [alice, alice]
    assert loaded[0].user is loaded[1].user  # one user object
    assert all(not m._state.adding and m._state.db == "default" for m in loaded)
    assert load_memberships(umbrella.pk + 1000) == []
