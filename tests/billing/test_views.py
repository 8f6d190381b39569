"""The billing page and its POSTs: who may see and change what."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from accounts.models import Membership, Organization, Role, User
from billing.models import Subscription
from billing.plans import PlanKey, all_plans
from sandbox.stripe import StripeSandbox
from tests.fixtures.stripe import subscribe

pytestmark = pytest.mark.django_db

REQUEST_KEY = "0f3c2a9e8b7d4c6a"


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _checkout(client: Client, plan: str = "pro", request_key: str = REQUEST_KEY):
    return client.post("/billing/checkout/", {"plan": plan, "request_key": request_key})


def test_the_owner_sees_the_plan_usage_and_upgrade_buttons(alice: User, acme: Organization) -> None:
    response = _signed_in(alice).get("/billing/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="current-plan">Free<' in html
    assert "0 of 3 used" in html
    assert 'data-testid="upgrade-pro"' in html
    assert 'data-testid="upgrade-agency"' in html
    assert "No domain is ever deleted" in html


def test_the_billing_link_is_in_the_navigation(alice: User, acme: Organization) -> None:
    html = _signed_in(alice).get("/dashboard/").content.decode()

    assert 'href="/billing/">Billing</a>' in html


def test_an_admin_can_manage_billing_like_an_owner(
    stripe_sim: StripeSandbox, acme: Organization, bob: User
) -> None:
    Membership.objects.filter(user=bob).update(role=Role.ADMIN)

    response = _checkout(_signed_in(bob))

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path.startswith("/checkout/cs_test_")


def test_a_member_cannot_open_billing_nor_sees_it_in_the_navigation(
    bob: User, acme: Organization
) -> None:
    client = _signed_in(bob)

    response = client.get("/billing/")
    dashboard = client.get("/dashboard/").content.decode()

    assert response.status_code == 403
    assert 'href="/billing/">Billing</a>' not in dashboard


def test_a_member_gets_403_on_checkout_and_portal(
    stripe_sim: StripeSandbox, bob: User, acme: Organization
) -> None:
    client = _signed_in(bob)

    assert _checkout(client).status_code == 403
    assert client.post("/billing/portal/").status_code == 403
    acme.refresh_from_db()
    assert acme.stripe_customer_id == ""
    assert stripe_sim.state["checkout_sessions"] == {}


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    for response in (
        client.get("/billing/"),
        client.post("/billing/checkout/", {"plan": "pro"}),
        client.post("/billing/portal/"),
        client.get("/billing/checkout/success/?session_id=cs_test_x"),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_upgrading_creates_one_customer_and_sends_the_owner_to_checkout(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    client = _signed_in(alice)

    first = _checkout(client)
    double_click = _checkout(client)

    acme.refresh_from_db()
    assert first.status_code == 302
    assert double_click["Location"] == first["Location"]
    assert list(stripe_sim.state["customers"]) == [acme.stripe_customer_id]
    (session,) = stripe_sim.state["checkout_sessions"].values()
    assert session["mode"] == "subscription"
    assert session["customer"] == acme.stripe_customer_id
    assert session["client_reference_id"] == str(acme.pk)
    assert session["_price"] == "price_sandbox_pro"
    assert session["success_url"].endswith(
        "/billing/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert first["Location"] == session["url"]


def test_a_new_visit_to_the_page_starts_a_new_checkout(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    client = _signed_in(alice)
    keys = [
        re.search(r'name="request_key" value="([^"]+)"', client.get("/billing/").content.decode())
        for _ in range(2)
    ]
    assert all(keys)

    locations = {_checkout(client, request_key=key.group(1))["Location"] for key in keys}

    assert len(locations) == 2
    assert len(stripe_sim.state["customers"]) == 1


def test_an_unknown_plan_is_refused_with_a_message(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    response = _checkout(_signed_in(alice), plan="free")

    assert response.status_code == 302
    assert response["Location"] == "/billing/"
    assert stripe_sim.state["checkout_sessions"] == {}


def test_a_subscribed_organization_is_sent_to_the_portal_instead_of_paying_twice(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    subscribe(stripe_sim, acme, "pro")
    client = _signed_in(alice)

    page = client.get("/billing/").content.decode()
    refused = client.post(
        "/billing/checkout/", {"plan": "agency", "request_key": REQUEST_KEY}, follow=True
    )
    portal = client.post("/billing/portal/")

    assert 'data-testid="upgrade-agency"' not in page
    assert 'data-testid="manage-billing"' in page
    assert "Manage billing" in refused.content.decode()
    assert stripe_sim.state["checkout_sessions"] == {}
    assert portal.status_code == 302
    assert urlsplit(portal["Location"]).path.startswith("/portal/bps_")


def test_the_portal_needs_a_stripe_customer(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    response = _signed_in(alice).post("/billing/portal/", follow=True)

    assert "choose a plan first" in response.content.decode()
    assert stripe_sim.state["portal_sessions"] == {}


def test_a_stripe_outage_is_a_message_not_an_error_page(
    stripe_sim: StripeSandbox, alice: User, acme: Organization, settings
) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"

    response = _checkout(_signed_in(alice))

    assert response.status_code == 302
    assert response["Location"] == "/billing/"


def test_charlie_can_change_only_his_own_organizations_billing(
    stripe_sim: StripeSandbox, charlie: User, umbrella: Organization, acme: Organization
) -> None:
    _checkout(_signed_in(charlie))

    acme.refresh_from_db()
    umbrella.refresh_from_db()
    assert acme.stripe_customer_id == ""
    assert umbrella.stripe_customer_id != ""
    (session,) = stripe_sim.state["checkout_sessions"].values()
    assert session["client_reference_id"] == str(umbrella.pk)


def test_charlie_gets_404_for_acmes_checkout_session(
    stripe_sim: StripeSandbox, alice: User, acme: Organization, charlie: User
) -> None:
    location = _checkout(_signed_in(alice))["Location"]
    session_id = urlsplit(location).path.rsplit("/", 1)[1]

    response = _signed_in(charlie).get(f"/billing/checkout/success/?session_id={session_id}")

    assert response.status_code == 404


def test_an_unknown_or_malformed_session_id_is_404(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    client = _signed_in(alice)

    assert client.get("/billing/checkout/success/?session_id=cs_test_nope").status_code == 404
    assert client.get("/billing/checkout/success/?session_id=../../x").status_code == 404


def test_returning_from_a_paid_checkout_shows_the_new_plan_at_once(
    stripe_sim: StripeSandbox, alice: User, acme: Organization
) -> None:
    client = _signed_in(alice)
    session_id = urlsplit(_checkout(client)["Location"]).path.rsplit("/", 1)[1]
    stripe_sim.hold_events()  # the webhooks are late: the return page syncs by itself

    paid = requests.post(
        f"{stripe_sim.public_url}/checkout/{session_id}",
        data={"card_number": "4242 4242 4242 4242"},
        allow_redirects=False,
        timeout=10,
    )
    response = client.get(f"/billing/checkout/success/?session_id={session_id}", follow=True)

    assert paid.status_code == 303
    assert stripe_sim.deliveries == []
    assert Subscription.objects.get(organization=acme).plan == PlanKey.PRO
    assert "You are on the Pro plan" in response.content.decode()


def test_returning_from_checkout_while_stripe_is_down_says_the_plan_updates_soon(
    stripe_sim: StripeSandbox, alice: User, acme: Organization, settings
) -> None:
    client = _signed_in(alice)
    session_id = urlsplit(_checkout(client)["Location"]).path.rsplit("/", 1)[1]
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"

    response = client.get(f"/billing/checkout/success/?session_id={session_id}", follow=True)

    assert response.status_code == 200
    assert "as soon as Stripe confirms" in response.content.decode()


def test_every_plan_card_lists_the_email_alerts_every_organization_gets(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    page = client.get("/billing/").content.decode()

    assert all("Email alerts" in plan.features for plan in all_plans())
    assert page.count("<li>Email alerts</li>") == len(all_plans())


def test_every_plan_card_lists_every_limit_the_plans_differ_in(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    page = client.get("/billing/").content.decode()

    for plan in all_plans():
        card = page[page.index(f'data-testid="plan-limits-{plan.key}"') :]
        card = card[: card.index("</ul>")]
        assert f"<li>Up to {plan.domain_limit} domains</li>" in card
        assert f"<li>{plan.origin_limit} origin" in card
        assert f"<li>{plan.webhook_endpoint_limit} webhook endpoint" in card
    assert len({(p.origin_limit, p.webhook_endpoint_limit) for p in all_plans()}) == 3


def test_after_a_canceled_plan_ends_its_card_offers_it_again(
    alice: User, acme: Organization, stripe_sim: StripeSandbox
) -> None:
    sub = subscribe(stripe_sim, acme, "pro")
    stripe_sim._set_cancel_at_period_end(stripe_sim.state["subscriptions"][sub["id"]], True)
    stripe_sim.end_period_now(sub["id"])
    client = _signed_in(alice)

    page = client.get("/billing/").content.decode()

    assert Subscription.objects.get(organization=acme).status == "canceled"
    pro = page[page.index('data-testid="plan-pro"') :]
    pro = pro[: pro.index("</article>")]
    assert "Your plan" not in pro  # nobody pays for it any more
    assert "Subscribe to Pro again" in pro
    assert "Ended; its limits apply until" in pro  # the grace period
    to_checkout = _checkout(client, "pro")
    assert "/checkout/" in to_checkout["Location"]  # Stripe's page, not a refusal
