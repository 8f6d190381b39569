"""The Origins pages, the origin chooser on the dashboard and the domain page, and Test origin."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization, User
from domains.models import Domain, Origin, ZoneEntitlement
from domains.origins.probe import origin_test
from domains.origins.services import origin_create, origins_sync
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.tenant import APP_HOSTNAME, TenantApp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("acme_on_pro")]

APP = "93.184.215.14"


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


def test_the_empty_origins_page_explains_what_an_origin_is(alice_client: Client) -> None:
    page = alice_client.get("/origins/").content.decode()

    assert 'data-testid="no-origins"' in page
    assert "Host header" in page


def test_an_owner_adds_an_origin_and_sees_its_record(
    alice_client: Client, cloudflare_sim: CloudflareSandbox
) -> None:
    response = alice_client.post("/origins/", {"name": "Production", "address": APP}, follow=True)

    origin = Origin.objects.get()
    page = response.content.decode()
    assert origin.is_default
    assert origin.record_name in page
    assert "Being written" in page


@pytest.mark.parametrize(
    ("address", "words"),
    [("10.0.0.1", "a private address"), ("app.localhost", "reserved"), ("", "Enter your app")],
)
def test_a_refused_address_is_shown_next_to_the_field(
    alice_client: Client, address: str, words: str
) -> None:
    response = alice_client.post("/origins/", {"name": "Production", "address": address})

    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Origin.objects.exists()


def test_a_member_sees_origins_but_cannot_change_them(
    client: Client, bob: User, acme: Organization
) -> None:
    origin = origin_create(organization=acme, name="Production", address=APP)
    client.force_login(bob)

    page = client.get("/origins/")
    added = client.post("/origins/", {"name": "Mine", "address": APP})
    removed = client.post(f"/origins/{origin.pk}/delete/")

    assert "Production" in page.content.decode()
    assert added.status_code == 403
    assert removed.status_code == 403
    assert Origin.objects.count() == 1


def test_another_organizations_origin_is_404_on_every_page_and_action(
    alice_client: Client, umbrella: Organization, acme: Organization
) -> None:
    theirs = origin_create(organization=umbrella, name="Theirs", address=APP)
    domain = Domain.objects.create(organization=acme, hostname="a.acme-customer.dev")

    answers = [
        alice_client.get(f"/origins/{theirs.pk}/").status_code,
        alice_client.post(f"/origins/{theirs.pk}/", {"name": "x", "address": APP}).status_code,
        alice_client.post(f"/origins/{theirs.pk}/test/").status_code,
        alice_client.post(f"/origins/{theirs.pk}/default/").status_code,
        alice_client.post(f"/origins/{theirs.pk}/delete/").status_code,
    ]
    attached = alice_client.post(f"/domains/{domain.pk}/origin/", {"origin": str(theirs.pk)})
    added = alice_client.post(
        "/domains/add/", {"hostname": "b.acme-customer.dev", "origin": str(theirs.pk)}
    )

    assert answers == [404] * 5
    assert attached.status_code == 302
    domain.refresh_from_db()
    assert domain.origin_id is None
    assert added.status_code == 400
    assert not Domain.objects.filter(hostname="b.acme-customer.dev").exists()
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_a_domain_is_added_on_a_chosen_origin_and_its_page_says_where_traffic_goes(
    alice_client: Client, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    origin_create(organization=acme, name="Production", address=APP)
    staging = origin_create(organization=acme, name="Staging", address="93.184.215.15")
    origins_sync()
    dashboard = alice_client.get("/dashboard/").content.decode()

    alice_client.post("/domains/add/", {"hostname": "a.acme-customer.dev", "origin": staging.pk})
    domain = Domain.objects.get()
    page = alice_client.get(f"/domains/{domain.pk}/").content.decode()
    alice_client.post(f"/domains/{domain.pk}/origin/", {"origin": ""})
    moving = alice_client.get(f"/domains/{domain.pk}/").content.decode()

    assert "Production (your default origin)" in dashboard
    assert domain.origin_id == staging.pk
    assert 'data-testid="served-by">Staging</a>' in page
    assert "moving to Production" in moving


def test_the_domain_page_says_when_cloudflare_refuses_custom_origins_for_the_zone(
    alice_client: Client, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    origin_create(organization=acme, name="Production", address=APP)
    alice_client.post("/domains/add/", {"hostname": "a.acme-customer.dev"})
    domain = Domain.objects.get()
    entitled = alice_client.get(f"/domains/{domain.pk}/").content.decode()

    ZoneEntitlement.refuse_custom_origins("not granted")
    refused = alice_client.get(f"/domains/{domain.pk}/").content.decode()

    assert "Custom origins are not enabled" not in entitled
    assert "Custom origins are not enabled" in refused


# ---------------------------------------------------------------------------------------------
# Test origin
# ---------------------------------------------------------------------------------------------
def tenant_origin(acme: Organization) -> Origin:
    return origin_create(organization=acme, name="App", address=APP_HOSTNAME)


def test_test_origin_reports_the_status_the_host_and_the_certificate(
    acme: Organization, tenant_app: TenantApp, cloudflare_sim: CloudflareSandbox
) -> None:
    origin = tenant_origin(acme)
    origins_sync()
    domain_register(organization=acme, hostname="shop.acme-customer.dev")

    result = origin_test(origin)

    assert result.ok
    assert (result.scheme, result.status, result.host) == ("https", 200, "shop.acme-customer.dev")
    assert result.certificate_names == (APP_HOSTNAME,)
    assert result.sni == origin.record_name  # what Cloudflare sends by default
    assert "ready for your customers' traffic" in result.message
    assert "cannot verify it strictly" in result.message
    assert tenant_app.seen()[-1].host == "shop.acme-customer.dev"


def test_an_app_that_does_not_know_the_hostname_is_told_to_allow_it(
    acme: Organization, tenant_app: TenantApp, cloudflare_sim: CloudflareSandbox
) -> None:
    origin = tenant_origin(acme)
    domain_register(organization=acme, hostname="shop.acme-customer.dev")
    tenant_app.accepted = {"other.acme-customer.dev"}

    result = origin_test(origin)

    assert not result.ok
    assert "answered 404 for shop.acme-customer.dev" in result.message
    assert "add shop.acme-customer.dev to your app's allowed hosts" in result.message


def test_with_nothing_listening_it_says_nothing_answered(
    acme: Organization, tenant_app: TenantApp, settings: Any
) -> None:
    origin = tenant_origin(acme)
    closed = []
    for _ in range(2):
        with socket.socket() as sock:  # bound, never listening: connections are refused
            sock.bind(("127.0.0.1", 0))
            closed.append(sock.getsockname()[1])
    settings.ORIGIN_PROBE_PORTS = closed

    result = origin_test(origin)

    assert not result.ok
    assert result.message.startswith("Nothing answered at 127.0.0.1")
    assert tenant_app.seen() == []


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_test_time(
    acme: Organization, tenant_app: TenantApp, dns_sandbox: DnsSandbox, settings: Any
) -> None:
    origin = tenant_origin(acme)  # resolved to loopback, allowed here, when saved
    settings.ORIGIN_ALLOW_LOOPBACK = False

    result = origin_test(origin)

    assert not result.ok
    assert "resolves to 127.0.0.1, a loopback address" in result.message
    assert tenant_app.seen() == []


def test_the_test_button_answers_in_place(
    alice_client: Client, acme: Organization, tenant_app: TenantApp
) -> None:
    origin = tenant_origin(acme)

    response = alice_client.post(f"/origins/{origin.pk}/test/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert 'data-testid="test-result"' in response.content.decode()
    assert "Your app answered 200" in response.content.decode()
