"""The Stripe simulator itself: wire format, auth, idempotency, clock, persistence."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import requests

from sandbox.server import SandboxServer
from sandbox.stripe import StripeSandbox, app_from_settings, parse_form, sign_payload

PRICES = {"price_pro": ("Pro", 2900), "price_agency": ("Agency", 9900)}


@pytest.fixture(scope="module")
def _server():
    server = SandboxServer(
        StripeSandbox(api_key="sk_test_k", webhook_secret="whsec_k", prices=PRICES)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sim(_server: SandboxServer) -> StripeSandbox:
    app = _server.app
    assert isinstance(app, StripeSandbox)
    app.reset()
    return app


@pytest.fixture
def served(_server: SandboxServer, sim: StripeSandbox) -> SandboxServer:
    return _server


def _auth(key: str = "sk_test_k") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_nested_form_keys_decode_like_stripe_does() -> None:
    body = (
        b"line_items[0][price]=p&line_items[0][quantity]=1&line_items[1][price]=q"
        b"&metadata[org]=7&expand[]=a&expand[]=b&mode=subscription"
    )

    assert parse_form(body) == {
        "line_items": [{"price": "p", "quantity": "1"}, {"price": "q"}],
        "metadata": {"org": "7"},
        "expand": ["a", "b"],
        "mode": "subscription",
    }


def test_the_signature_is_stripes_hmac_of_timestamp_dot_payload() -> None:
    header = sign_payload(b'{"id": "evt_1"}', "whsec_k", timestamp=1700000000)

    expected = hmac.new(b"whsec_k", b'1700000000.{"id": "evt_1"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_the_api_wants_the_secret_key_as_bearer_or_basic_auth(served: SandboxServer) -> None:
    url = f"{served.url}/v1/customers"
    basic = base64.b64encode(b"sk_test_k:").decode()

    missing = requests.post(url, timeout=5)
    wrong = requests.post(url, headers=_auth("sk_test_other"), timeout=5)
    bearer = requests.post(url, headers=_auth(), timeout=5)
    basic_auth = requests.post(url, headers={"Authorization": f"Basic {basic}"}, timeout=5)

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert (bearer.status_code, basic_auth.status_code) == (200, 200)
    assert bearer.json()["object"] == "customer"


def test_an_idempotency_key_replays_the_first_answer(
    served: SandboxServer, sim: StripeSandbox
) -> None:
    url = f"{served.url}/v1/customers"
    headers = {**_auth(), "Idempotency-Key": "abc"}

    first = requests.post(url, data={"name": "A"}, headers=headers, timeout=5)
    replay = requests.post(url, data={"name": "A"}, headers=headers, timeout=5)
    other = requests.post(url, data={"name": "B"}, headers=headers, timeout=5)

    assert first.json() == replay.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert len(sim.state["customers"]) == 1


def test_unknown_objects_and_urls_answer_like_stripe(served: SandboxServer) -> None:
    missing = requests.get(f"{served.url}/v1/subscriptions/sub_nope", headers=_auth(), timeout=5)
    unknown = requests.get(f"{served.url}/v1/charges", headers=_auth(), timeout=5)
    page = requests.get(f"{served.url}/checkout/cs_test_nope", timeout=5)

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    assert unknown.status_code == 404
    assert "Unrecognized request URL" in unknown.json()["error"]["message"]
    assert page.status_code == 404


def test_checkout_pays_sends_signed_events_and_redirects_to_the_success_url(
    served: SandboxServer, sim: StripeSandbox
) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    sim.webhook_sender = lambda payload, headers: received.append((payload, headers)) or 200
    customer = sim.create_customer(name="A", metadata={})
    session = requests.post(
        f"{served.url}/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "customer": customer,
            "line_items[0][price]": "price_pro",
            "line_items[0][quantity]": "1",
            "success_url": "http://app.test/done?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://app.test/billing/",
            "client_reference_id": "42",
        },
        headers=_auth(),
        timeout=5,
    ).json()

    page = requests.get(session["url"], timeout=5)
    declined = requests.post(session["url"], data={"card_number": "4000000000000002"}, timeout=5)
    assert received == []
    paid = requests.post(
        session["url"],
        data={"card_number": "4242 4242 4242 4242"},
        allow_redirects=False,
        timeout=5,
    )

    assert "Subscribe to Pro" in page.text
    assert declined.status_code == 402
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://app.test/done?session_id={session['id']}"
    types = [json.loads(payload)["type"] for payload, _ in received]
    assert sorted(types) == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    for payload, headers in received:
        timestamp = headers["Stripe-Signature"].split(",")[0][2:]
        expected = hmac.new(b"whsec_k", f"{timestamp}.".encode() + payload, hashlib.sha256)
        assert headers["Stripe-Signature"].endswith(f"v1={expected.hexdigest()}")
    completed = next(json.loads(p) for p, _ in received if b"checkout.session.completed" in p)
    assert completed["data"]["object"]["client_reference_id"] == "42"
    assert "_price" not in completed["data"]["object"]


def test_advancing_the_clock_renews_and_ends_subscriptions(sim: StripeSandbox) -> None:
    sim.hold_events()
    renewing = sim.create_subscription(sim.create_customer(metadata={}), "price_pro")
    ending = sim.create_subscription(sim.create_customer(metadata={}), "price_agency")
    sim._set_cancel_at_period_end(sim.state["subscriptions"][ending["id"]], True)
    sim.take_held()

    sim.hold_events()
    sim.advance_time(31 * 24 * 3600)
    types = [(e["type"], e["data"]["object"]["id"]) for e in sim.take_held()]

    renewed = sim.subscription(renewing["id"])
    assert renewed["status"] == "active"
    assert (
        renewed["items"]["data"][0]["current_period_start"]
        == (renewing["items"]["data"][0]["current_period_end"])
    )
    assert sim.subscription(ending["id"])["status"] == "canceled"
    assert ("customer.subscription.deleted", ending["id"]) in types
    assert ("customer.subscription.updated", renewing["id"]) in types


def test_a_declining_card_makes_the_renewal_past_due(sim: StripeSandbox) -> None:
    customer = sim.create_customer(metadata={})
    sub = sim.create_subscription(customer, "price_pro")
    sim.set_card_declines(customer)
    sim.hold_events()

    sim.advance_time(30 * 24 * 3600)

    assert sim.subscription(sub["id"])["status"] == "past_due"
    assert "invoice.payment_failed" in [e["type"] for e in sim.take_held()]


def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    first = StripeSandbox(api_key="k", webhook_secret="w", prices=PRICES, state_file=state)
    sub = first.create_subscription(first.create_customer(metadata={}), "price_pro")

    second = StripeSandbox(api_key="k", webhook_secret="w", prices=PRICES, state_file=state)

    assert second.subscription(sub["id"]) == first.subscription(sub["id"])
    assert not list(tmp_path.glob(".stripe-*"))  # written atomically, no temp files left


def test_the_factory_follows_the_settings(settings, tmp_path: Path) -> None:
    settings.SITE_URL = "http://app.test"
    settings.STRIPE_SECRET_KEY = "sk_test_from_settings"

    app = app_from_settings(tmp_path)

    assert app.api_key == "sk_test_from_settings"
    assert app.webhook_url == "http://app.test/billing/webhook/"
    assert app.state_file == tmp_path / "stripe.json"
    assert set(app.prices) == {settings.STRIPE_PRICE_PRO, settings.STRIPE_PRICE_AGENCY}


def test_undelivered_events_are_recorded_with_status_zero(sim: StripeSandbox) -> None:
    sim.webhook_url = "http://127.0.0.1:9/billing/webhook/"

    sim.send_event("ping", {"id": "x", "object": "thing"})

    assert [d.status for d in sim.deliveries] == [0]


def test_the_controls_end_a_period_at_the_moment_they_are_pressed(
    served: SandboxServer, sim: StripeSandbox
) -> None:
    renewing = sim.create_subscription(sim.create_customer(metadata={}), "price_pro")
    ending = sim.create_subscription(sim.create_customer(metadata={}), "price_agency")
    sim._set_cancel_at_period_end(sim.state["subscriptions"][ending["id"]], True)
    controls = f"{served.url}/sandbox/"

    page = requests.get(controls, timeout=10)
    sim.hold_events()
    pressed = sim.now()
    for sub in (renewing, ending):
        clicked = requests.post(
            controls,
            data={"subscription": sub["id"], "action": "end-period"},
            allow_redirects=False,
            timeout=10,
        )
        assert clicked.status_code == 302
    types = [(e["type"], e["data"]["object"]["id"]) for e in sim.take_held()]

    assert "End the current period now" in page.text
    assert renewing["id"] in page.text
    assert sim.subscription(ending["id"])["status"] == "canceled"
    assert ("customer.subscription.deleted", ending["id"]) in types
    # Stamped with the moment of the press (the clock the app reads), not the period's
    # original end a month away.
    assert pressed <= sim.subscription(ending["id"])["ended_at"] <= sim.now()
    renewed = sim.subscription(renewing["id"])["items"]["data"][0]
    assert pressed <= renewed["current_period_start"] <= sim.now()
    assert renewed["current_period_start"] < renewing["items"]["data"][0]["current_period_end"]


def test_the_controls_make_renewals_fail_and_pay_again(
    served: SandboxServer, sim: StripeSandbox
) -> None:
    customer = sim.create_customer(metadata={})
    sub = sim.create_subscription(customer, "price_pro")
    controls = f"{served.url}/sandbox/"

    requests.post(controls, data={"subscription": sub["id"], "action": "declines"}, timeout=10)
    failing = customer in sim.declining_customers()
    requests.post(controls, data={"subscription": sub["id"], "action": "pays"}, timeout=10)

    assert failing
    assert customer not in sim.declining_customers()
