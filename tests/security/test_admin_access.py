"""The admin is for staff, behind the same GitHub sign-in as everything else, at ADMIN_URL."""

from __future__ import annotations

from io import StringIO
from urllib.parse import parse_qs, urlencode, urlparse, urlsplit

import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory
from tests.fixtures.github import github_sign_in

pytestmark = pytest.mark.django_db

ADMIN = "/" + settings.ADMIN_URL


@pytest.fixture
def staff() -> User:
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


def test_the_admin_lives_at_admin_url() -> None:
    assert reverse("admin:index") == ADMIN


def test_a_signed_out_visitor_is_sent_to_github_sign_in_with_next_back_to_the_admin(
    client: Client, github_sim: object
) -> None:
    wanted = f"{ADMIN}domains/domain/"

    response = client.get(wanted, follow=True)

    final = urlparse(response.redirect_chain[-1][0])
    assert final.path == reverse("account_login")
    assert parse_qs(final.query)["next"] == [wanted]
    # Our sign-in page: the GitHub button, posting back with the same `next`; no password form.
    page = response.content.decode()
    assert 'data-testid="github-sign-in"' in page
    assert "next=" + wanted.replace("/", "%2F") in page
    assert 'name="password"' not in page


def test_the_admins_own_login_page_never_shows_a_password_form(client: Client) -> None:
    response = client.get(reverse("admin:login"))

    assert response.status_code == 302
    assert urlparse(response["Location"]).path == reverse("account_login")


def test_signing_in_through_github_as_staff_lands_back_in_the_admin(
    client: Client, github_sim: object
) -> None:
    wanted = f"{ADMIN}domains/domain/"
    # A first GitHub sign-in creates the user; another staff member then makes them staff.
    user = github_sign_in(client, "octo-staff")
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    client.logout()

    login_url = client.get(wanted, follow=True).redirect_chain[-1][0]
    next_value = parse_qs(urlparse(login_url).query)["next"][0]
    # The button on our sign-in page, then GitHub (the simulator) and its callback.
    start = client.post(f"{reverse('github_login')}?{urlencode({'next': next_value})}")
    authorize = urlsplit(start["Location"])
    params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    github = requests.post(
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}",
        data={**params, "login": "octo-staff"},
        allow_redirects=False,
        timeout=10,
    )
    callback = urlsplit(github.headers["Location"])
    landed = client.get(f"{callback.path}?{callback.query}")

    assert landed["Location"] == wanted
    assert client.get(wanted).status_code == 200


def test_staff_reach_the_admin(client: Client, staff: User) -> None:
    client.force_login(staff)

    assert client.get(ADMIN).status_code == 200


def test_signed_in_staff_at_the_admin_login_go_straight_to_next(
    client: Client, staff: User
) -> None:
    client.force_login(staff)

    response = client.get(reverse("admin:login"), {"next": f"{ADMIN}domains/domain/"})

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}domains/domain/"


def test_a_signed_in_non_staff_user_gets_403_never_the_admin(client: Client, alice: User) -> None:
    client.force_login(alice)

    response = client.get(ADMIN, follow=True)

    assert response.status_code == 403
    assert b"Site administration" not in response.content
    assert b"This is the staff admin" in response.content
    assert b"python manage.py make_staff alice" in response.content


def test_a_non_staff_user_cannot_open_an_admin_page_directly(client: Client, alice: User) -> None:
    client.force_login(alice)

    response = client.get(f"{ADMIN}accounts/user/", follow=True)

    assert response.status_code == 403


def test_a_deactivated_staff_account_is_signed_out_of_the_admin(
    client: Client, staff: User
) -> None:
    client.force_login(staff)
    User.objects.filter(pk=staff.pk).update(is_active=False)

    response = client.get(ADMIN, follow=True)

    assert urlparse(response.redirect_chain[-1][0]).path == reverse("account_login")
    assert b"Site administration" not in response.content


def test_next_pointing_at_another_site_is_replaced_by_the_admin_index(client: Client) -> None:
    response = client.get(reverse("admin:login"), {"next": "https://evil.example/"})

    query = parse_qs(urlparse(response["Location"]).query)
    assert query["next"] == [ADMIN]


def test_make_staff_lets_a_github_user_into_the_admin(client: Client, alice: User) -> None:
    out = StringIO()

    call_command("make_staff", "Alice", stdout=out)

    alice.refresh_from_db()
    assert alice.is_staff
    assert alice.is_superuser
    assert "alice is now staff" in out.getvalue()
    client.force_login(alice)
    assert client.get(ADMIN).status_code == 200


def test_make_staff_for_someone_who_never_signed_in_says_what_to_do(db: None) -> None:
    with pytest.raises(CommandError, match="Sign in with GitHub once"):
        call_command("make_staff", "nobody")


def test_make_staff_revoke_takes_the_rights_back(alice: User) -> None:
    call_command("make_staff", "alice", stdout=StringIO())
    call_command("make_staff", "alice", "--revoke", stdout=StringIO())

    alice.refresh_from_db()
    assert not alice.is_staff
    assert not alice.is_superuser
