"""A builder adds an origin, tests it, adds a domain on it, moves the origin to a new address,
and the domain is still served by it (now at the new address)."""

from __future__ import annotations

from typing import Any

import pytest

from domains.origins.services import origins_sync
from sandbox.cloudflare import CloudflareSandbox
from sandbox.server import SandboxServer
from sandbox.tenant import APP_HOSTNAME, TenantApp
from tests.browser.test_domain_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_ADDRESS = "93.184.215.20"


def test_a_domain_follows_its_origin_to_a_new_address(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    tenant_app: TenantApp,
) -> None:
    sign_in(page, live_server, "originator")
    page.get_by_role("link", name="Origins").click()
    assert page.get_by_test_id("no-origins").is_visible()

    page.fill("#id_name", "Production")
    page.fill("#id_address", APP_HOSTNAME)
    page.get_by_test_id("add-origin").click()
    page.wait_for_url(f"{live_server.url}/origins/*/")
    assert page.get_by_test_id("origin-state").inner_text() == "Being written"
    origin_url = page.url

    origins_sync()  # the background step: the origin's DNS record is written
    page.reload()
    assert page.get_by_test_id("origin-state").inner_text() == "In place"
    page.get_by_test_id("test-origin").click()
    page.get_by_test_id("test-result").filter(has_text="Your app answered 200").wait_for()

    page.get_by_role("link", name="Domains").click()
    chooser = page.get_by_test_id("origin-choice")
    assert chooser.locator("option:checked").inner_text() == "Production (your default origin)"
    page.fill("#id_hostname", "shop.test-customer.dev")
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{live_server.url}/domains/**")
    assert page.get_by_test_id("served-by").inner_text() == "Production"
    assert cloudflare_sim.route("shop.test-customer.dev")["origin"] == APP_HOSTNAME

    page.goto(origin_url)
    page.fill("#id_address", NEW_ADDRESS)
    page.get_by_test_id("save-origin").click()
    assert page.get_by_test_id("origin-address").inner_text() == NEW_ADDRESS
    origins_sync()

    page.get_by_role("link", name="shop.test-customer.dev").click()
    assert page.get_by_test_id("served-by").inner_text() == "Production"
    assert NEW_ADDRESS in page.get_by_test_id("domain-origin").inner_text()
    assert cloudflare_sim.route("shop.test-customer.dev")["origin"] == NEW_ADDRESS
