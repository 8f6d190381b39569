"""As a new user would: hit the Free limit, upgrade through checkout, cancel, see the downgrade."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from domains.models import Domain
from sandbox.cloudflare import CloudflareSandbox
from sandbox.server import SandboxServer
from sandbox.stripe import StripeSandbox
from tests.browser.test_domain_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_domain(page: Any, live_server: Any, hostname: str) -> None:
    page.goto(f"{live_server.url}/dashboard/")
    page.fill("#id_hostname", hostname)
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{live_server.url}/domains/**")


def test_free_limit_upgrade_through_checkout_then_cancel_and_downgrade(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    stripe_live: StripeSandbox,
    settings: Any,
) -> None:
    settings.SESSION_COOKIE_AGE = 90 * 24 * 3600  # the session outlives the jump in time below
    sign_in(page, live_server, "founder")
    for n in range(3):
        add_domain(page, live_server, f"c{n}.founder.test-customer.dev")

    # The fourth is refused, with a way up.
    page.goto(f"{live_server.url}/dashboard/")
    assert "3 of 3 domains" in page.get_by_test_id("plan-usage").inner_text()
    assert page.get_by_test_id("add-domain").is_disabled()
    page.get_by_test_id("upgrade-link").click()

    # Checkout in the Stripe simulator: a declined card first, then the test card.
    page.get_by_test_id("upgrade-pro").click()
    page.get_by_test_id("card-number").fill("4000 0000 0000 0002")
    page.get_by_test_id("pay").click()
    assert "declined" in page.content().lower()
    page.get_by_test_id("card-number").fill("4242 4242 4242 4242")
    page.get_by_test_id("pay").click()
    page.wait_for_url(f"{live_server.url}/billing/**")
    assert page.get_by_test_id("current-plan").inner_text() == "Pro"

    add_domain(page, live_server, "c3.founder.test-customer.dev")
    assert Domain.objects.filter(organization__name="founder's organization").count() == 4

    # Cancel in the portal: Pro stays until the period ends, and the page says so.
    page.goto(f"{live_server.url}/billing/")
    page.get_by_test_id("manage-billing").click()
    page.get_by_test_id("cancel-plan").click()
    page.wait_for_url(f"{live_server.url}/billing/**")
    assert "canceled and ends on" in page.get_by_test_id("billing-warning").first.inner_text()

    # A month and the grace period later: Free limits, no domain lost, no new ones.
    stripe_live.advance_time(40 * 24 * 3600)
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=40), tick=True):
        page.goto(f"{live_server.url}/dashboard/")
        usage = page.get_by_test_id("plan-usage").inner_text()
        assert "4 of 3 domains" in usage
        assert "existing domains keep working" in usage
        assert page.get_by_test_id("add-domain").is_disabled()
        assert page.get_by_test_id("upgrade-link").is_visible()
    assert Domain.objects.filter(organization__name="founder's organization").count() == 4


def test_a_downgrade_walked_in_the_sandbox_then_the_way_back_to_pro(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    stripe_live: StripeSandbox,
    settings: Any,
) -> None:
    settings.BILLING_GRACE_DAYS = 0  # the sandbox's setting to see the end at once
    sign_in(page, live_server, "walker")
    page.goto(f"{live_server.url}/billing/")
    page.get_by_test_id("upgrade-pro").click()
    page.get_by_test_id("card-number").fill("4242 4242 4242 4242")
    page.get_by_test_id("pay").click()
    page.wait_for_url(f"{live_server.url}/billing/**")
    assert page.get_by_test_id("current-plan").inner_text() == "Pro"

    page.get_by_test_id("manage-billing").click()
    page.get_by_test_id("cancel-plan").click()
    page.wait_for_url(f"{live_server.url}/billing/**")
    said = page.get_by_test_id("billing-warning").first.inner_text()
    assert "canceled and ends on" in said
    assert "After that, Free limits apply (3 domains)." in said

    # The sandbox's Stripe controls: the period ends now, on the clock the app reads.
    page.goto(f"{stripe_live.public_url}/sandbox/")
    page.get_by_role("button", name="End the current period now").click()
    page.goto(f"{live_server.url}/billing/")
    assert page.get_by_test_id("current-plan").inner_text() == "Free"
    assert "has ended: Free limits apply" in page.get_by_test_id("billing-warning").inner_text()
    assert "Your plan" in page.get_by_test_id("plan-free").inner_text()

    again = page.get_by_test_id("upgrade-pro")
    assert again.inner_text() == "Subscribe to Pro again"
    again.click()
    page.get_by_test_id("card-number").fill("4242 4242 4242 4242")
    page.get_by_test_id("pay").click()
    page.wait_for_url(f"{live_server.url}/billing/**")
    assert page.get_by_test_id("current-plan").inner_text() == "Pro"
    assert "Your plan" in page.get_by_test_id("plan-pro").inner_text()
