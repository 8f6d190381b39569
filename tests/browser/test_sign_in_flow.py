"""A new user signs in with GitHub (the simulator) in a real browser and lands on the dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Membership, Role
from sandbox.server import SandboxServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_user_signs_in_with_github_and_sees_their_personal_organization(
    page: Any, live_server: Any, github_sim: SandboxServer
) -> None:
    page.goto(live_server.url)
    page.get_by_test_id("nav-sign-in").click()
    page.get_by_test_id("github-sign-in").click()

    # On the simulator's authorize page: type which GitHub user to be.
    page.get_by_test_id("login-input").fill("new-builder")
    page.get_by_test_id("authorize").click()

    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.get_by_role("heading", name="new-builder's organization").is_visible()
    membership = Membership.objects.get(user__username="new-builder")
    assert membership.role == Role.OWNER

    page.get_by_test_id("sign-out").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_test_id("nav-sign-in").is_visible()


def test_a_returning_user_can_pick_a_preset_github_user(
    page: Any, live_server: Any, github_sim: SandboxServer
) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_test_id("github-sign-in").click()
    page.get_by_test_id("pick-octocat").click()

    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.get_by_role("heading", name="octocat's organization").is_visible()
