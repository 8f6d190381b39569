from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Organization
from domains.models import Domain
from domains.services import domain_register
from domains.webhooks.services import webhook_endpoint_create
from sandbox.cloudflare import CloudflareSandbox

pytestmark = pytest.mark.django_db

ADMIN = "/" + settings.ADMIN_URL


@pytest.fixture
def domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname="admin.acme.test-customer.dev").domain


@pytest.mark.parametrize(
    "path",
    [
        "domains/domain/",
        "domains/domain/?status__exact=pending&q=admin.acme",
        "domains/domain/?cloudflare_status__exact=pending",
        "domains/domainevent/",
        "domains/domainevent/?kind__exact=created&q=admin",
        "domains/ratebudgetcounter/",
        "domains/webhookendpoint/?enabled__exact=1&q=hooks",
        "domains/webhookmessage/?type__exact=domain.created",
        "domains/webhookdelivery/?status__exact=failed&message__type__exact=domain.active",
        "domains/origin/?state__exact=pending&is_default__exact=1&q=prod",
        "domains/zoneentitlement/",
        "domains/cloudflarehint/?outcome__exact=failed&q=shop",
        "django_celery_beat/periodictask/",
    ],
)
def test_staff_can_list_filter_and_search_domains_in_admin(
    staff_client: Client, domain: Domain, path: str
) -> None:
    response = staff_client.get(ADMIN + path)

    assert response.status_code == 200


def test_staff_see_a_domains_history_inline(staff_client: Client, domain: Domain) -> None:
    response = staff_client.get(f"{ADMIN}domains/domain/{domain.pk}/change/")

    assert response.status_code == 200
    assert b"Registered with Cloudflare" in response.content


def test_domain_history_cannot_be_edited_in_admin(staff_client: Client, domain: Domain) -> None:
    event = domain.events.first()
    assert event is not None

    response = staff_client.post(f"{ADMIN}domains/domainevent/{event.pk}/change/", {"message": "x"})

    assert response.status_code == 403


def test_staff_see_webhook_endpoints_without_their_secrets(
    staff_client: Client, acme: Organization, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint

    page = staff_client.get(f"{ADMIN}domains/webhookendpoint/{endpoint.pk}/change/")

    assert page.status_code == 200
    assert endpoint.secret not in page.content.decode()


def test_staff_turn_custom_origins_back_on_after_cloudflare_enabled_them(
    staff_client: Client, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.models import ZoneEntitlement

    ZoneEntitlement.refuse_custom_origins("not granted")

    response = staff_client.post(
        ADMIN + "domains/zoneentitlement/",
        {"action": "allow_custom_origins", "_selected_action": [ZoneEntitlement.objects.get().pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert ZoneEntitlement.custom_origins_refusal() == ""


@pytest.mark.parametrize(
    "model", ["dnscheck", "handoffemail", "emailunsubscribe", "handoff", "dnshostdetection"]
)
def test_staff_see_the_dns_owner_features_rows_in_admin(
    staff_client: Client, domain: Domain, model: str
) -> None:
    response = staff_client.get(f"/admin/domains/{model}/", {"q": domain.hostname})

    assert response.status_code == 200
