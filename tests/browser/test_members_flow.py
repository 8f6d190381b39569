"""A colleague joins: the owner invites by email, the invitee signs in with GitHub in their own
browser and accepts, sees the organization's domains, and cannot open billing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.server import SandboxServer
from tests.browser.test_domain_flow import sign_in, sign_in_and_add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_invited_colleague_joins_sees_the_domains_and_not_billing(
    browser: Any,
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
    settings: Any,
) -> None:
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sign_in_and_add(page, live_server, "owner", "shared.test-customer.dev")
    page.goto(f"{live_server.url}/settings/members/")
    page.get_by_test_id("invite-email").fill("colleague@agency.example")
    page.get_by_test_id("invite").click()
    page.get_by_test_id("invitation").wait_for()
    link = re.search(r"http://\S+/invitations/inv_\S+/", mail.outbox[-1].body)
    assert link is not None

    colleague = browser.new_context()  # their own browser: no session
    try:
        their = colleague.new_page()
        sign_in(their, live_server, "colleague")  # GitHub sign-in first, their own organization
        their.goto(link[0])
        assert "owner's organization" in their.get_by_test_id("invitation-page").inner_text()
        assert their.get_by_test_id("invitation-role").inner_text() == "member"
        their.get_by_test_id("accept-invitation").click()
        their.wait_for_url(f"{live_server.url}/dashboard/")

        assert "shared.test-customer.dev" in their.content()
        assert their.locator('nav a[href="/billing/"]').count() == 0
        refused = their.goto(f"{live_server.url}/billing/")
        assert refused is not None
        assert refused.status == 403
        assert "Only owners and admins can do this" in their.get_by_test_id("refusal").inner_text()
    finally:
        colleague.close()

    page.goto(f"{live_server.url}/settings/members/")
    assert page.locator('[data-testid="member"][data-username="colleague"]').count() == 1


def test_an_owner_deletes_the_organization_after_typing_its_name(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
    settings: Any,
) -> None:
    settings.SITE_URL = live_server.url
    sign_in_and_add(page, live_server, "owner", "leaving.test-customer.dev")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{live_server.url}/organization/")
    name = "owner's organization"

    page.get_by_test_id("delete-confirm-name").fill("owner")
    page.get_by_test_id("delete-organization-submit").click()
    assert "exactly as shown" in page.get_by_test_id("delete-organization").inner_text()
    page.get_by_test_id("delete-confirm-name").fill(name)
    page.get_by_test_id("delete-organization-submit").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")

    assert f"{name} is being deleted" in page.content().replace("&#x27;", "'")
    assert "leaving.test-customer.dev" not in page.content()  # a fresh personal organization
