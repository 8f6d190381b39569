"""The DNS owner's hand-off, as people would do it: the builder sends a link; whoever manages
the DNS opens it signed out, reads the steps in their DNS host's words, creates the record and
checks it until the domain is active."""

from __future__ import annotations

from typing import Any

import pytest

from domains.models import Domain
from domains.services import domain_detect_dns_host
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.server import SandboxServer
from tests.browser.test_domain_flow import sign_in_and_add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE = "handoff-customer.dev"


def test_a_link_takes_the_dns_owner_from_instructions_to_active_without_an_account(
    browser: Any,
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
    settings: Any,
) -> None:
    settings.SITE_URL = live_server.url  # the links' base, as in production
    dns_sandbox.add_zone(ZONE)
    dns_sandbox.set_record(ZONE, "NS", ["dns1.registrar-servers.com", "dns2.registrar-servers.com"])
    sign_in_and_add(page, live_server, "builder", f"app.{ZONE}")
    domain_detect_dns_host(Domain.objects.get().pk)  # the worker's job after the addition

    page.get_by_test_id("handoff-new").click()
    url = page.get_by_test_id("handoff-url").inner_text()

    stranger = browser.new_context()  # whoever manages the DNS: no session, no account
    try:
        their = stranger.new_page()
        their.goto(url)
        assert "builder's organization" in their.get_by_test_id("asked-by").inner_text()
        assert "hosted at Namecheap" in their.get_by_test_id("dns-host").inner_text()
        steps = their.get_by_test_id("dns-host-steps").inner_text()
        assert "Host app, Value dcv.pcnaid.com" in steps
        assert their.get_by_test_id("status-badge").inner_text() == "Pending"

        dns_sandbox.cname(f"app.{ZONE}", "dcv.pcnaid.com")  # they create the record
        their.get_by_test_id("check-my-records").click()
        assert "points to dcv.pcnaid.com" in their.get_by_test_id("check-result").inner_text()
        assert their.get_by_test_id("status-badge").inner_text() == "Active"
        # Every record, expected vs found: the CNAME's verdict has turned green.
        cname = their.locator('[data-testid="record-check"][data-code="ok"]').first
        assert "CNAME" in cname.inner_text()
        verdict = cname.get_by_test_id("record-verdict")
        assert verdict.inner_text() == "Right"
        assert "badge-active" in (verdict.get_attribute("class") or "")
    finally:
        stranger.close()

    page.goto(f"{live_server.url}/domains/{Domain.objects.get().pk}/")
    assert page.get_by_test_id("handoff-viewed").inner_text() != "not yet"
    assert page.get_by_test_id("handoff-checked").inner_text() != "not yet"
