"""The organization's display name and branding: set by owners and admins on the organization
page, shown on the hand-off pages its customers' DNS owners open."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Organization, User
from domains.handoffs.services import handoff_create
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox

pytestmark = pytest.mark.django_db

BRANDING = {
    "name": "Acme Hosting",
    "brand_logo_url": "https://acme-hosting.example/logo.png",
    "brand_accent": "#1F6FEB",
    "support_url": "mailto:help@acme-hosting.example",
}


def test_an_owner_sets_the_name_logo_colour_and_support_link(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    response = client.post("/organization/", BRANDING)

    acme.refresh_from_db()
    assert response.status_code == 302
    assert (acme.name, acme.brand_logo_url, acme.brand_accent, acme.support_url) == (
        "Acme Hosting",
        "https://acme-hosting.example/logo.png",
        "#1f6feb",
        "mailto:help@acme-hosting.example",
    )
    page = client.get("/organization/")
    assert 'data-testid="brand-logo"' in page.content.decode()
    assert "img-src 'self' data: https:" in page["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Give the organization a name."),
        ("brand_logo_url", "http://acme.example/logo.png", "Give an https:// address."),
        ("brand_logo_url", "javascript:alert(1)", "Give an https:// address."),
        ("brand_accent", "red", "like #1f6feb"),
        ("brand_accent", "#12345", "like #1f6feb"),
        ("support_url", "ftp://acme.example", "Give an https:// address or a mailto: link."),
        ("support_url", "mailto:not-an-address", "Give a mailto: link with an email address."),
    ],
)
def test_bad_branding_is_refused_with_a_message_and_changes_nothing(
    client: Client, alice: User, acme: Organization, field: str, value: str, message: str
) -> None:
    client.force_login(alice)

    response = client.post("/organization/", {**BRANDING, field: value})

    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert 'aria-invalid="true"' in page
    acme.refresh_from_db()
    assert acme.name == "Acme"  # nothing saved, not even the valid fields
    assert "<title>Organization · Acme · DCVaaS</title>" in page


def test_a_member_sees_the_branding_but_cannot_change_it(
    client: Client, bob: User, acme: Organization
) -> None:
    client.force_login(bob)

    page = client.get("/organization/").content.decode()
    refused = client.post("/organization/", BRANDING)

    assert "Only owners and admins can change these." in page
    assert refused.status_code == 403
    acme.refresh_from_db()
    assert acme.name == "Acme"


def test_the_hand_off_page_shows_the_logo_colour_and_support_link_and_the_outsider_never_sees_it(
    client: Client,
    alice: User,
    charlie: User,
    acme: Organization,
    umbrella: Organization,
    cloudflare_sim: CloudflareSandbox,
) -> None:
    client.force_login(alice)
    client.post("/organization/", BRANDING)
    client.logout()
    domain = domain_register(organization=acme, hostname="app.acme.test-customer.dev").domain
    raw = handoff_create(domain=domain)[1]

    response = client.get(f"/dns/{raw}/")
    client.force_login(charlie)
    outsiders_page = client.get("/organization/").content.decode()

    page = response.content.decode()
    assert '<img src="https://acme-hosting.example/logo.png" alt="Acme Hosting"' in page
    assert "--pico-primary: #1f6feb" in page
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in page
    assert 'href="mailto:help@acme-hosting.example"' in page
    assert "img-src 'self' data: https:" in response["Content-Security-Policy"]
    assert "Acme Hosting" not in outsiders_page
