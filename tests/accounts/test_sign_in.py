from __future__ import annotations

import pytest
import requests
from django.test import Client

from accounts.models import Membership, Organization, Role
from sandbox.server import SandboxServer
from tests.fixtures.github import github_sign_in

pytestmark = pytest.mark.django_db


def test_first_github_sign_in_creates_the_user_with_a_personal_organization(
    client: Client, github_sim: SandboxServer
) -> None:
    user = github_sign_in(client, "octocat")

    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.organization.name == "octocat's organization"
    assert user.current_organization == membership.organization
    assert user.email == "octocat@users.sandbox.test-customer.dev"
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert b"octocat&#x27;s organization" in response.content


def test_signing_in_again_creates_no_second_organization(
    client: Client, github_sim: SandboxServer
) -> None:
    user = github_sign_in(client, "hubot")
    client.post("/accounts/logout/")
    again = github_sign_in(client, "hubot")

    assert again == user
    assert Organization.objects.filter(memberships__user=user).count() == 1


def test_sign_out_ends_the_session(client: Client, github_sim: SandboxServer) -> None:
    github_sign_in(client, "monalisa")

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_the_dashboard_sends_anonymous_visitors_to_sign_in(client: Client) -> None:
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_sign_in_page_offers_github_only(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert b"Sign in with GitHub" in response.content
    assert b'name="password"' not in response.content


def test_local_signup_is_closed(client: Client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "mallory", "password1": "x" * 12, "password2": "x" * 12}
    )

    assert b"Sign Up Closed" in response.content
    assert not Organization.objects.exists()


def test_the_simulator_refuses_a_reused_or_forged_code(github_sim: SandboxServer) -> None:
    response = requests.post(
        f"{github_sim.url}/login/oauth/access_token",
        data={"code": "forged", "client_id": "sandbox-client-id", "client_secret": "x"},
        headers={"Accept": "application/json"},
        timeout=5,
    )

    assert response.json()["error"] == "bad_verification_code"


def test_the_simulator_rejects_an_invalid_login_with_a_message(github_sim: SandboxServer) -> None:
    response = requests.post(
        f"{github_sim.url}/login/oauth/authorize",
        data={
            "client_id": "sandbox-client-id",
            "redirect_uri": "http://testserver/cb",
            "login": "-bad-",
        },
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 200
    assert "cannot start or end with a hyphen" in response.text


def test_the_user_api_needs_a_token(github_sim: SandboxServer) -> None:
    response = requests.get(f"{github_sim.url}/api/v3/user", timeout=5)

    assert response.status_code == 401
