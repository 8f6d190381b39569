"""The whole flow over real HTTP: the app on live_server, Stripe's pages on the simulator.

A person clicks "Upgrade", pays (or fails to) on the simulator's checkout page, and the
simulator sends signed webhooks to the app before sending the browser back, as Stripe does.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import requests
import time_machine
from django.conf import settings as django_settings
from django.test import Client

from accounts.models import Organization, User
from billing.models import StripeEvent, StripeEventStatus, Subscription
from billing.plans import PlanKey, organization_entitlements
from sandbox.stripe import StripeSandbox
from tests.billing import billed_plan

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = dt.timedelta(days=7)


def _browser(live_server: Any, user: User) -> requests.Session:
    """A requests session signed in as `user` on the live server."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(
        django_settings.SESSION_COOKIE_NAME,
        client.cookies[django_settings.SESSION_COOKIE_NAME].value,
    )
    return session


def _form_fields(html: str, plan: str) -> dict[str, str]:
    form = re.search(
        rf'<form method="post" action="/billing/checkout/">(.*?)value="{plan}"(.*?)</form>',
        html,
        re.S,
    )
    assert form, html
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form.group(0)))
    return fields


def _start_checkout(browser: requests.Session, live_server: Any, plan: str) -> str:
    page = browser.get(f"{live_server.url}/billing/", timeout=10)
    assert page.status_code == 200
    response = browser.post(
        f"{live_server.url}/billing/checkout/",
        data=_form_fields(page.text, plan),
        headers={"Referer": f"{live_server.url}/billing/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def _pay(browser: requests.Session, checkout_url: str, card: str) -> requests.Response:
    page = browser.get(checkout_url, timeout=10)
    assert 'data-testid="card-number"' in page.text
    return browser.post(checkout_url, data={"card_number": card}, timeout=30)


def _entitlements(org: Organization, now: dt.datetime | None = None) -> Any:
    return organization_entitlements(Organization.objects.get(pk=org.pk), domain_count=5, now=now)


def test_paying_with_the_test_card_puts_the_organization_on_pro(
    stripe_live: StripeSandbox, live_server: Any, alice: User, acme: Organization
) -> None:
    browser = _browser(live_server, alice)

    checkout_url = _start_checkout(browser, live_server, "pro")
    landed = _pay(browser, checkout_url, "4242 4242 4242 4242")

    assert checkout_url.startswith(stripe_live.public_url + "/checkout/cs_test_")
    assert landed.status_code == 200
    assert landed.url == f"{live_server.url}/billing/"
    assert "You are on the Pro plan" in landed.text
    assert {(d.type, d.status) for d in stripe_live.deliveries} == {
        ("checkout.session.completed", 200),
        ("customer.subscription.created", 200),
        ("invoice.paid", 200),
    }
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {
        StripeEventStatus.PROCESSED
    }
    acme.refresh_from_db()
    assert billed_plan(acme) == PlanKey.PRO
    assert Subscription.objects.get(organization=acme).status == "active"
    assert _entitlements(acme).domain_limit == 15


def test_a_declined_card_changes_nothing(
    stripe_live: StripeSandbox, live_server: Any, alice: User, acme: Organization
) -> None:
    browser = _browser(live_server, alice)
    checkout_url = _start_checkout(browser, live_server, "agency")

    declined = _pay(browser, checkout_url, "4000 0000 0000 0002")

    assert declined.status_code == 402
    assert "Your card was declined." in declined.text
    assert stripe_live.deliveries == []
    assert not StripeEvent.objects.exists()
    assert not Subscription.objects.exists()
    acme.refresh_from_db()
    assert billed_plan(acme) == PlanKey.FREE
    page = browser.get(f"{live_server.url}/billing/", timeout=10)
    assert 'data-testid="current-plan">Free<' in page.text


def test_canceling_in_the_portal_falls_back_to_free_after_the_grace_period(
    stripe_live: StripeSandbox, live_server: Any, alice: User, acme: Organization
) -> None:
    browser = _browser(live_server, alice)
    _pay(browser, _start_checkout(browser, live_server, "pro"), "4242424242424242")
    page = browser.get(f"{live_server.url}/billing/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token

    portal = browser.post(
        f"{live_server.url}/billing/portal/",
        data={"csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{live_server.url}/billing/"},
        timeout=10,
    )
    assert 'data-testid="cancel-plan"' in portal.text
    back = browser.post(portal.url, data={"action": "cancel"}, timeout=30)

    assert back.url == f"{live_server.url}/billing/"
    subscription = Subscription.objects.get(organization=acme)
    assert subscription.cancel_at_period_end
    assert subscription.current_period_end is not None
    still_pro = _entitlements(acme)
    assert still_pro.plan.key == PlanKey.PRO
    assert "is canceled and ends on" in still_pro.warnings[0]

    period_end = subscription.current_period_end
    with time_machine.travel(period_end + dt.timedelta(hours=1)):
        stripe_live.run_clock()  # Stripe ends the subscription at the end of the period
        subscription.refresh_from_db()
        in_grace = _entitlements(acme)
    assert subscription.status == "canceled"
    assert subscription.ended_at == period_end
    assert in_grace.plan.key == PlanKey.PRO
    assert "has ended" in in_grace.warnings[0]

    with time_machine.travel(period_end + GRACE + dt.timedelta(minutes=1)):
        after_grace = _entitlements(acme)
    assert after_grace.plan.key == PlanKey.FREE
    assert after_grace.domain_limit == 3
    assert not after_grace.can_add_domain  # 5 domains stay; new ones wait for room


def test_a_failed_renewal_keeps_paid_limits_with_a_warning_during_the_grace_period(
    stripe_live: StripeSandbox, live_server: Any, alice: User, acme: Organization
) -> None:
    browser = _browser(live_server, alice)
    # Stripe's test card that pays today and declines every later charge.
    _pay(browser, _start_checkout(browser, live_server, "agency"), "4000 0000 0000 0341")
    period_end = Subscription.objects.get(organization=acme).current_period_end
    assert period_end is not None

    with time_machine.travel(period_end + dt.timedelta(minutes=5)):
        stripe_live.run_clock()
        during = _entitlements(acme)
        page = _browser(live_server, alice).get(f"{live_server.url}/billing/", timeout=10)
    with time_machine.travel(period_end + GRACE + dt.timedelta(minutes=5)):
        after = _entitlements(acme)

    types = [d.type for d in stripe_live.deliveries]
    assert "invoice.payment_failed" in types
    assert Subscription.objects.get(organization=acme).status == "past_due"
    assert during.plan.key == PlanKey.AGENCY
    assert during.can_add_domain
    assert "payment for Agency failed" in during.warnings[0]
    assert "payment for Agency failed" in page.text
    assert after.plan.key == PlanKey.FREE
    assert "grace period ended" in after.warnings[0]
