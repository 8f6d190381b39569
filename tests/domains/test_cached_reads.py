"""The dashboard, the domain pages and the API's reads are cached, and every change shows at
once: a sync cycle, a check, a removal, a new subscription. Another organization never sees
what was cached for one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Organization, User
from accounts.services import api_token_create
from billing.models import Subscription
from billing.plans import get_plan
from dcvaas.sandbox.cloudflare import CloudflareSandbox
from domains import sync
from domains.models import Domain
from domains.services import domain_delete, domain_register
from tests.fixtures.cloudflare import CloudflareHttp
from tests.sync.helpers import DOMAIN, register

# Committed for real: the version moves on when a write commits, as it does in production.
pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/domains"


@pytest.fixture
def acme_token(acme: Organization, alice: User) -> dict[str, str]:
    raw = api_token_create(organization=acme, created_by=alice, name="acme")[1]
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def pending(acme: Organization, cloudflare_http: CloudflareHttp) -> Domain:
    return register(cloudflare_http, acme, f"app.{DOMAIN}")


def api_statuses(client: Client, token: dict[str, str]) -> dict[str, str]:
    body = client.get(API, **token).json()  # type: ignore[arg-type]
    return {domain["hostname"]: domain["status"] for domain in body["results"]}


def reads_of_domains(request: object) -> int:
    """How many SQL statements `request()` runs against the domains and their history."""
    with CaptureQueriesContext(connection) as queries:
        request()  # type: ignore[operator]
    return sum('"domains_domain' in query["sql"] for query in queries.captured_queries)


def test_a_second_look_at_the_dashboard_reads_no_domains(
    client: Client, alice: User, pending: Domain
) -> None:
    client.force_login(alice)
    first = client.get("/dashboard/").content

    assert reads_of_domains(lambda: client.get("/dashboard/")) == 0
    assert client.get("/dashboard/").content.count(pending.hostname.encode()) == (
        first.count(pending.hostname.encode())
    )


def test_a_second_look_at_the_api_list_reads_no_domains(
    client: Client, acme_token: dict[str, str], pending: Domain
) -> None:
    first = client.get(API, **acme_token).json()  # type: ignore[arg-type]

    assert reads_of_domains(lambda: client.get(API, **acme_token)) == 0  # type: ignore[arg-type]
    assert client.get(API, **acme_token).json() == first  # type: ignore[arg-type]


def test_the_cached_api_list_answers_as_drf_would_for_each_accept_header(
    client: Client, acme_token: dict[str, str], pending: Domain
) -> None:
    pretty = {**acme_token, "HTTP_ACCEPT": "application/json; indent=2"}

    first, again = client.get(API, **acme_token), client.get(API, **acme_token)  # type: ignore[arg-type]
    indented = client.get(API, **pretty)  # type: ignore[arg-type]

    assert first["Content-Type"] == again["Content-Type"] == "application/json"
    assert first.content == again.content
    assert first.content.startswith(b'{"count":1,')
    assert indented.content.startswith(b'{\n  "count": 1,')
    assert indented.json() == first.json()
    assert client.get(API, HTTP_ACCEPT="text/html", **acme_token).status_code == 406  # type: ignore[arg-type]


def test_a_sync_cycle_that_activates_a_domain_shows_on_the_cached_dashboard_and_api(
    client: Client,
    alice: User,
    acme_token: dict[str, str],
    pending: Domain,
    cloudflare_sim: CloudflareSandbox,
) -> None:
    client.force_login(alice)
    assert f'data-testid="status-{pending.hostname}">Pending' in client.get("/dashboard/").text
    assert api_statuses(client, acme_token) == {pending.hostname: "pending"}
    cloudflare_sim.set_cname(pending.hostname, True)

    sync.run_cycle()

    assert f'data-testid="status-{pending.hostname}">Active' in client.get("/dashboard/").text
    assert api_statuses(client, acme_token) == {pending.hostname: "active"}


def test_an_added_domain_shows_on_the_cached_dashboard_and_api_with_its_usage(
    client: Client, alice: User, acme_token: dict[str, str], cloudflare_sim: CloudflareSandbox
) -> None:
    acme = Organization.objects.get(slug="acme")
    client.force_login(alice)
    assert "0 of 3 domains" in client.get("/dashboard/").text
    assert api_statuses(client, acme_token) == {}

    domain = domain_register(organization=acme, hostname="new.acme.test-customer.dev").domain

    page = client.get("/dashboard/").text
    assert domain.hostname in page
    assert "1 of 3 domains" in page
    assert domain.hostname in api_statuses(client, acme_token)


def test_a_removed_domain_leaves_the_cached_dashboard_and_api(
    client: Client, alice: User, acme_token: dict[str, str], cloudflare_sim: CloudflareSandbox
) -> None:
    acme = Organization.objects.get(slug="acme")
    domain = domain_register(organization=acme, hostname="gone.acme.test-customer.dev").domain
    client.force_login(alice)
    assert domain.hostname in client.get("/dashboard/").text
    assert domain.hostname in api_statuses(client, acme_token)

    domain_delete(domain=domain, actor=alice)

    page = client.get("/dashboard/").text
    assert domain.hostname not in page
    assert "No domains yet" in page
    assert api_statuses(client, acme_token) == {}


def test_a_new_subscription_shows_its_limit_on_the_cached_dashboard(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)
    assert "0 of 3 domains" in client.get("/dashboard/").text

    Subscription.objects.create(
        organization=acme,
        stripe_customer_id="cus_acme",
        stripe_subscription_id="sub_acme",
        stripe_price_id=get_plan("pro").price_id,
        plan="pro",
        status="active",
        stripe_state_at=timezone.now(),
    )

    assert "0 of 15 domains" in client.get("/dashboard/").text


def test_an_outsider_never_gets_what_was_cached_for_another_organization(
    client: Client,
    alice: User,
    charlie: User,
    umbrella: Organization,
    acme_token: dict[str, str],
    pending: Domain,
) -> None:
    client.force_login(alice)
    client.get("/dashboard/")
    client.get(API, **acme_token)  # type: ignore[arg-type]
    umbrella_token = api_token_create(organization=umbrella, created_by=charlie, name="u")[1]

    client.force_login(charlie)
    page = client.get("/dashboard/").text
    listed = api_statuses(client, {"HTTP_AUTHORIZATION": f"Bearer {umbrella_token}"})

    assert pending.hostname not in page
    assert "No domains yet" in page
    assert listed == {}


def test_filters_and_pages_are_cached_apart(
    client: Client, alice: User, acme: Organization, cloudflare_http: CloudflareHttp
) -> None:
    for n in range(3):
        register(cloudflare_http, acme, f"shop{n}.{DOMAIN}")
    Domain.objects.filter(hostname=f"shop0.{DOMAIN}").update(status="active")
    client.force_login(alice)

    everything = client.get("/dashboard/").text
    active = client.get("/dashboard/?status=active").text
    made_up = client.get("/dashboard/?status=nonsense").text

    assert all(f"shop{n}.{DOMAIN}" in everything for n in range(3))
    assert f"shop0.{DOMAIN}" in active
    assert f"shop1.{DOMAIN}" not in active
    assert "No domains with this status." in made_up


def test_a_second_look_at_a_domain_reads_no_domains_or_history(
    client: Client, alice: User, acme_token: dict[str, str], pending: Domain
) -> None:
    client.force_login(alice)
    pages = [f"/domains/{pending.pk}/", f"/domains/{pending.pk}/status/"]
    first = [client.get(page).status_code for page in pages]
    client.get(f"{API}/{pending.pk}", **acme_token)  # type: ignore[arg-type]

    assert first == [200, 200]
    assert [reads_of_domains(lambda page=page: client.get(page)) for page in pages] == [0, 0]
    assert reads_of_domains(lambda: client.get(f"{API}/{pending.pk}", **acme_token)) == 0  # type: ignore[arg-type]


def test_a_sync_cycle_shows_on_the_cached_domain_page_status_and_api(
    client: Client,
    alice: User,
    acme_token: dict[str, str],
    pending: Domain,
    cloudflare_sim: CloudflareSandbox,
) -> None:
    client.force_login(alice)
    page, status = f"/domains/{pending.pk}/", f"/domains/{pending.pk}/status/"
    detail = f"{API}/{pending.pk}"
    assert 'data-testid="status-badge">Pending' in client.get(page).text
    assert client.get(status, HTTP_HX_REQUEST="true").status_code == 200  # still polling
    assert client.get(detail, **acme_token).json()["status"] == "pending"  # type: ignore[arg-type]
    cloudflare_sim.set_cname(pending.hostname, True)

    sync.run_cycle()

    shown = client.get(page).text
    assert 'data-testid="status-badge">Active' in shown
    assert "Status changed" in shown  # the history, cached apart from the status
    assert client.get(status, HTTP_HX_REQUEST="true").status_code == 286  # settled: stop
    assert client.get(detail, **acme_token).json()["status"] == "active"  # type: ignore[arg-type]


def test_a_check_shows_in_the_cached_history(
    client: Client, alice: User, pending: Domain, dns_sandbox: object
) -> None:
    client.force_login(alice)
    page = f"/domains/{pending.pk}/"
    assert "Check requested" not in client.get(page).text

    client.post(f"/domains/{pending.pk}/check/")

    assert "Check requested" in client.get(page).text


def test_an_outsider_gets_a_404_for_a_domain_cached_for_its_owner(
    client: Client, alice: User, charlie: User, umbrella: Organization, pending: Domain
) -> None:
    client.force_login(alice)
    assert client.get(f"/domains/{pending.pk}/").status_code == 200
    umbrella_token = api_token_create(organization=umbrella, created_by=charlie, name="u")[1]

    client.force_login(charlie)

    assert client.get(f"/domains/{pending.pk}/").status_code == 404
    assert client.get(f"/domains/{pending.pk}/status/").status_code == 404
    answer = client.get(f"{API}/{pending.pk}", HTTP_AUTHORIZATION=f"Bearer {umbrella_token}")
    assert answer.status_code == 404
