"""Every page of ours works in a real browser under the Content Security Policy, with no violation.

Each test records the browser's `securitypolicyviolation` events and its console messages, then
uses the page the way a person does (htmx polling, Check now, Swagger UI rendering the schema,
the admin's JavaScript), and finally asserts the policy was sent and nothing was blocked.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from accounts.models import Organization, User
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.server import SandboxServer
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}`
  );
});
"""


class Watched:
    """A Playwright page whose CSP violations and console complaints are being recorded."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.console: list[str] = []
        self.policies: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(message.text)

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base_url + path)
        assert response is not None
        assert response.ok, f"{path} answered {response.status}"
        self.policies.append(response.headers.get("content-security-policy", ""))
        return response

    def assert_clean(self) -> None:
        violations = self.page.evaluate("window.__cspViolations")
        policy_complaints = [text for text in self.console if "Content Security Policy" in text]
        assert violations == []
        assert policy_complaints == []
        assert self.policies
        for policy in self.policies:
            assert "script-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy


def signed_in(page: Any, live_server: Any, user: User) -> Watched:
    """`page` carrying a session of `user`, made directly (the sign-in flow has its own test)."""
    client = Client()
    client.force_login(user)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert SessionStore(session_key=session_key).exists(session_key)
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": live_server.url}]
    )
    return Watched(page, live_server.url)


@pytest.fixture
def owner(acme: Organization, alice: User) -> User:
    return alice


@pytest.fixture
def watched_owner(page: Any, live_server: Any, owner: User) -> Watched:
    return signed_in(page, live_server, owner)


def test_the_sign_in_pages_and_the_github_round_trip_raise_no_csp_violation(
    page: Any, live_server: Any, github_sim: SandboxServer
) -> None:
    watched = Watched(page, live_server.url)
    watched.goto("/")
    watched.goto("/accounts/login/")
    page.get_by_test_id("github-sign-in").click()
    page.get_by_test_id("login-input").fill("csp-visitor")
    page.get_by_test_id("authorize").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")

    watched.assert_clean()


def test_the_dashboard_adding_a_domain_with_htmx_raises_no_csp_violation(
    watched_owner: Watched, cloudflare_sim: CloudflareSandbox, dns_sandbox: DnsSandbox
) -> None:
    page = watched_owner.page
    watched_owner.goto("/dashboard/")
    page.fill("#id_hostname", "csp.test-customer.dev")
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{watched_owner.base_url}/domains/**")

    watched_owner.assert_clean()


def test_a_domain_page_polling_and_check_now_raise_no_csp_violation(
    watched_owner: Watched, cloudflare_sim: CloudflareSandbox, dns_sandbox: DnsSandbox
) -> None:
    page = watched_owner.page
    watched_owner.goto("/dashboard/")
    page.fill("#id_hostname", "poll.test-customer.dev")
    page.get_by_test_id("add-domain").click()
    page.wait_for_url(f"{watched_owner.base_url}/domains/**")
    watched_owner.policies.append(
        page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    )

    # One htmx poll of the status block (every 3 s while pending), then Check now.
    with page.expect_response(lambda response: "/status/" in response.url, timeout=10_000):
        pass
    dns_sandbox.cname("poll.test-customer.dev", "dcv.pcnaid.com")
    page.get_by_test_id("check-now").click()
    page.get_by_test_id("status-badge").filter(has_text="Active").wait_for()

    watched_owner.assert_clean()


def test_the_tokens_page_creating_a_token_raises_no_csp_violation(
    watched_owner: Watched,
) -> None:
    page = watched_owner.page
    watched_owner.goto("/tokens/")
    page.locator("input[name=name]").fill("ci")
    page.locator("form button[type=submit]").filter(has_text="Create").click()
    page.wait_for_load_state()
    assert "dcv_" in page.content()

    watched_owner.assert_clean()


def test_the_billing_page_raises_no_csp_violation(watched_owner: Watched, stripe_sim: Any) -> None:
    watched_owner.goto("/billing/")
    assert watched_owner.page.get_by_test_id("current-plan").inner_text() == "Free"

    watched_owner.assert_clean()


def test_the_api_docs_render_the_schema_with_no_csp_violation(page: Any, live_server: Any) -> None:
    watched = Watched(page, live_server.url)
    watched.goto("/api/v1/docs/")
    # Swagger UI fetched the schema and drew the operations: its scripts all ran.
    page.locator(".opblock-summary-path", has_text="/api/v1/domains").first.wait_for()

    watched.assert_clean()


def test_the_admin_raises_no_csp_violation(page: Any, live_server: Any, acme: Organization) -> None:
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    watched = signed_in(page, live_server, staff)
    admin = "/" + settings.ADMIN_URL
    watched.goto(admin)
    watched.goto(admin + "accounts/organization/")
    watched.goto(f"{admin}accounts/organization/{acme.pk}/change/")
    watched.goto(admin + "domains/domain/")
    # The theme toggle and the sidebar filter are the admin's own scripts at work.
    page.locator("button.theme-toggle").first.click()
    watched.goto(admin + "accounts/user/add/")
    watched.goto("/staff/status/")

    watched.assert_clean()
