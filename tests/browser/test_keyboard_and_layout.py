"""Keyboard use and layout: focus rings that show, code blocks a keyboard can scroll, buttons
that keep to one line at a desktop's width."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Organization, User
from domains.origins.services import origin_create
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.server import SandboxServer
from tests.browser.test_domain_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _lines(locator: Any) -> int:
    """How many lines the element's text takes (one box per line of a range over it)."""
    return int(
        locator.evaluate(
            "e => { const r = document.createRange(); r.selectNodeContents(e);"
            " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }"
        )
    )


def test_at_a_desktops_width_the_field_buttons_keep_to_one_line(
    browser: Any, live_server: Any, github_sim: SandboxServer, cloudflare_sim: CloudflareSandbox
) -> None:
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
    page = context.new_page()
    try:
        sign_in(page, live_server, "desk")
        organization = Organization.objects.get(memberships__user__username="desk")
        origin_create(organization=organization, name="Production", address="93.184.215.14")
        domain = domain_register(organization=organization, hostname="wide.test-customer.dev")

        page.goto(f"{live_server.url}/dashboard/")
        assert _lines(page.get_by_test_id("add-domain")) == 1
        page.goto(f"{live_server.url}/domains/{domain.domain.pk}/")
        assert _lines(page.get_by_test_id("save-domain-origin")) == 1
    finally:
        context.close()


def test_a_keyboard_focused_outline_button_shows_a_solid_ring(
    page: Any, live_server: Any, github_sim: SandboxServer, cloudflare_sim: CloudflareSandbox
) -> None:
    sign_in(page, live_server, "tabber")
    user = User.objects.get(username="tabber")
    organization = Organization.objects.get(memberships__user=user)
    domain = domain_register(organization=organization, hostname="ring.test-customer.dev").domain
    page.goto(f"{live_server.url}/domains/{domain.pk}/")

    page.keyboard.press("Shift")  # the last input is the keyboard: focus shows as it would
    button = page.get_by_test_id("check-now")
    button.focus()

    assert button.evaluate("e => e.matches(':focus-visible')")
    style = button.evaluate(
        "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert style == ["solid", "3px"]


def test_on_a_phone_the_webhook_docs_code_blocks_scroll_by_keyboard(
    browser: Any, live_server: Any, github_sim: SandboxServer
) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, live_server, "reader")
        page.goto(f"{live_server.url}/webhooks/docs/")
        blocks = page.locator("pre")
        assert blocks.count() == 2
        for index in range(blocks.count()):
            block = blocks.nth(index)
            assert block.get_attribute("tabindex") == "0"
            assert block.get_attribute("aria-label")
            assert block.evaluate("e => e.scrollWidth > e.clientWidth")  # it does overflow
            block.evaluate(
                "e => { window.__scrolled = new Promise("
                "r => e.addEventListener('scroll', () => r(e.scrollLeft), {once: true})); }"
            )
            block.focus()
            page.keyboard.press("ArrowRight")
            assert page.evaluate("() => window.__scrolled") > 0
    finally:
        context.close()
