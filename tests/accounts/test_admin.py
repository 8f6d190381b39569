from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Organization, User

pytestmark = pytest.mark.django_db

ADMIN = "/" + settings.ADMIN_URL


@pytest.mark.parametrize(
    "path",
    [
        "accounts/user/",
        "accounts/user/?is_staff__exact=1&q=alice",
        "accounts/organization/",
        "accounts/organization/?q=acme",
        "accounts/membership/",
        "accounts/membership/?role__exact=owner&q=alice",
    ],
)
def test_staff_can_list_filter_and_search_every_accounts_model(
    staff_client: Client, bob: User, charlie: User, path: str
) -> None:
    response = staff_client.get(ADMIN + path)

    assert response.status_code == 200


def test_staff_can_open_an_organization(staff_client: Client, acme: Organization) -> None:
    response = staff_client.get(f"{ADMIN}accounts/organization/{acme.pk}/change/")

    assert response.status_code == 200
    assert b"alice" in response.content


def test_admin_is_closed_to_non_staff(client: Client, alice: User) -> None:
    client.force_login(alice)

    response = client.get(ADMIN)

    assert response.status_code == 302
    assert "login" in response["Location"]
