"""A new user adds a hostname, makes its CNAME exist, checks it, sees it go active, removes it."""

from __future__ import annotations

from typing import Any

import pytest

from domains.models import Domain
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.server import SandboxServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, live_server: Any, login: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_test_id("github-sign-in").click()
    page.get_by_test_id("login-input").fill(login)
    page.get_by_test_id("authorize").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")


def test_a_domain_goes_from_instructions_to_active_and_is_removed(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
) -> None:
    sign_in(page, live_server, "builder")
    assert page.get_by_test_id("empty-state").is_visible()

    # A mistake first: the error appears next to the field, inline.
    page.fill("#id_hostname", "shop.example.com")
    page.get_by_test_id("add-domain").click()
    assert "reserved for documentation" in page.get_by_test_id("hostname-error").inner_text()

    page.fill("#id_hostname", "Shop.Test-Customer.dev")
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{live_server.url}/domains/**")
    assert page.get_by_test_id("domain-hostname").inner_text() == "shop.test-customer.dev"
    assert page.get_by_test_id("record-host").first.inner_text() == "shop"
    assert page.get_by_test_id("record-value").first.inner_text() == "dcv.pcnaid.com"
    assert page.get_by_test_id("status-badge").inner_text() == "Pending"

    # The customer creates the CNAME; the builder presses Check now. No reload happens.
    dns_sandbox.cname("shop.test-customer.dev", "dcv.pcnaid.com")
    page.evaluate("window.__sameDocument = true")
    page.get_by_test_id("check-now").click()
    page.get_by_test_id("status-badge").filter(has_text="Active").wait_for()
    assert page.evaluate("window.__sameDocument") is True
    assert "points to dcv.pcnaid.com" in page.get_by_test_id("check-result").inner_text()
    assert page.get_by_test_id("certificate").is_visible()

    page.get_by_test_id("remove").click()
    page.get_by_test_id("confirm-remove").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.get_by_test_id("empty-state").is_visible()
    assert not Domain.objects.exists()
    assert cloudflare_sim.hostnames() == []


def test_a_pending_domain_page_updates_by_itself_when_cloudflare_moves_on(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
) -> None:
    sign_in(page, live_server, "watcher")
    page.fill("#id_hostname", "live.test-customer.dev")
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{live_server.url}/domains/**")
    assert page.get_by_test_id("status-badge").inner_text() == "Pending"

    # The sync loop's job, done here directly: Cloudflare's new state lands in the database.
    from domains.cloudflare import CloudflareClient
    from domains.services import domain_apply_remote

    cloudflare_sim.set_cname("live.test-customer.dev")
    domain = Domain.objects.get()
    domain_apply_remote(domain=domain, remote=CloudflareClient().get(domain.cloudflare_id))

    page.get_by_test_id("status-badge").filter(has_text="Active").wait_for(timeout=10_000)


def _next_poll_swap(page: Any) -> None:
    """Wait until the status block has been replaced by the page's next poll (or check)."""
    page.evaluate("document.getElementById('status-poll').dataset.seen = 'yes'")
    page.locator("#status-poll:not([data-seen])").wait_for(state="attached")


def sign_in_and_add(page: Any, live_server: Any, login: str, hostname: str) -> None:
    sign_in(page, live_server, login)
    page.fill("#id_hostname", hostname)
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{live_server.url}/domains/**")


def test_keyboard_focus_and_the_checks_verdict_stay_while_the_status_polls(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
) -> None:
    sign_in_and_add(page, live_server, "keyboarder", "focus.test-customer.dev")
    page.get_by_test_id("check-now").focus()

    _next_poll_swap(page)
    _next_poll_swap(page)
    assert page.evaluate("document.activeElement.id") == "check-now"

    page.keyboard.press("Enter")  # no CNAME yet: the verdict says so
    verdict = page.get_by_test_id("check-result")
    verdict.wait_for()
    said = verdict.inner_text()
    assert "focus.test-customer.dev" in said
    _next_poll_swap(page)
    _next_poll_swap(page)
    assert verdict.inner_text() == said  # the verdict stays until the next check
    assert page.evaluate("document.activeElement.id") == "check-now"


def test_pending_turning_active_is_announced_and_the_records_section_follows(
    page: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
) -> None:
    sign_in_and_add(page, live_server, "listener", "heard.test-customer.dev")
    page.evaluate("window.__live = document.getElementById('status-announcement')")
    section = page.get_by_test_id("dns-records-section")
    assert "DNS records to create" in section.inner_text()
    assert page.get_by_test_id("status-announcement").inner_text() == ""

    from domains.cloudflare import CloudflareClient
    from domains.services import domain_apply_remote

    cloudflare_sim.set_cname("heard.test-customer.dev")
    domain = Domain.objects.get()
    domain_apply_remote(domain=domain, remote=CloudflareClient().get(domain.cloudflare_id))

    announcement = page.get_by_role("status").filter(has_text="Status: Active.")
    announcement.wait_for(state="attached")
    # The same live region, its text changed: what screen readers announce.
    assert page.evaluate("window.__live === document.getElementById('status-announcement')")
    assert "These records are in place" in section.inner_text()
    assert "DNS records to create" not in section.inner_text()
