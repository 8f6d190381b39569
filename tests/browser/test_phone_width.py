"""At a phone's width (390 px) no page scrolls sideways, and the header keeps its controls."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Organization, User
from accounts.services import api_token_create
from domains.handoffs.services import handoff_create
from domains.models import Domain
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.server import SandboxServer
from tests.browser.test_domain_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _overflow(page: Any) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def test_no_page_scrolls_sideways_on_a_phone(
    browser: Any,
    live_server: Any,
    github_sim: SandboxServer,
    cloudflare_sim: CloudflareSandbox,
) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        assert _overflow(page) == 0, "home"
        sign_in(page, live_server, "a-builder-with-a-long-github-login")
        user = User.objects.get(username="a-builder-with-a-long-github-login")
        organization = Organization.objects.get(memberships__user=user)
        Organization.objects.filter(pk=organization.pk).update(
            name="An organization with a rather long name, Inc."
        )
        long_name = "checkout-eu-west." + "very-long-customer-subdomain." * 3 + "shop.dev"
        domain = domain_register(organization=organization, hostname=long_name).domain
        domain_register(organization=organization, hostname="bücher.test-customer.dev")
        assert Domain.objects.count() == 2
        api_token_create(
            organization=organization, created_by=user, name="CI deploys from the main branch"
        )

        pages = {
            "dashboard": "/dashboard/",
            "domain page": f"/domains/{domain.pk}/",
            "remove page": f"/domains/{domain.pk}/remove/",
            "billing": "/billing/",
            "api tokens": "/tokens/",
            "webhooks": "/webhooks/",
            "webhook docs": "/webhooks/docs/",
            "hand-off page": f"/dns/{handoff_create(domain=domain)[1]}/",
            "api docs": "/api/v1/docs/",
        }
        for name, path in pages.items():
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            assert _overflow(page) == 0, f"{name} is {_overflow(page)} px too wide"

        page.goto(f"{live_server.url}/dashboard/")
        switcher = page.get_by_label("Organization")
        assert switcher.is_visible()
        assert switcher.bounding_box()["width"] > 80  # a name to read, not an empty chevron
        sign_out = page.get_by_test_id("sign-out")
        line_height = float(sign_out.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
        assert sign_out.bounding_box()["height"] < 2 * line_height + 20  # one line
    finally:
        context.close()


def test_a_skip_link_leads_past_the_header_to_the_content(
    page: Any, live_server: Any, github_sim: SandboxServer
) -> None:
    page.goto(f"{live_server.url}/")

    page.keyboard.press("Tab")

    skip = page.get_by_text("Skip to content")
    assert skip.evaluate("e => e === document.activeElement")
    skip.press("Enter")
    assert page.evaluate("location.hash") == "#main"
