"""Pages and API reads run the same number of SQL queries for 3, 50 or 500 domains.

The organizations, sessions and tokens are seeded by bench/web.py's own seeding, and the counts
come from its X-DB-Queries middleware, so these tests also cover what the benchmark relies on.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve

from bench.instrument import QUERY_COUNT_HEADER, SERVER_TIME_HEADER
from bench.web import Tenant, seed_tenant
from domains.handoffs.services import handoff_create
from domains.models import Domain, Origin

pytestmark = pytest.mark.django_db

COUNTING = ["bench.instrument.BenchmarkMiddleware", *settings.MIDDLEWARE]


def _dashboard(client: Client, tenant: Tenant) -> HttpResponse:
    return client.get("/dashboard/")


def _domain_page(client: Client, tenant: Tenant) -> HttpResponse:
    return client.get(f"/domains/{tenant.domain_id}/")


def _status_fragment(client: Client, tenant: Tenant) -> HttpResponse:
    return client.get(f"/domains/{tenant.domain_id}/status/", HTTP_HX_REQUEST="true")


def _api_list(client: Client, tenant: Tenant) -> HttpResponse:
    return client.get("/api/v1/domains", HTTP_AUTHORIZATION=f"Bearer {tenant.token}")


def _api_detail(client: Client, tenant: Tenant) -> HttpResponse:
    return client.get(
        f"/api/v1/domains/{tenant.domain_id}", HTTP_AUTHORIZATION=f"Bearer {tenant.token}"
    )


ENDPOINTS: dict[str, Callable[[Client, Tenant], HttpResponse]] = {
    "dashboard_list": _dashboard,
    "domain_page": _domain_page,
    "status_fragment": _status_fragment,
    "api_list": _api_list,
    "api_detail": _api_detail,
}


def _queries(tenant: Tenant, get: Callable[[Client, Tenant], HttpResponse]) -> int:
    # Sessions and throttle counters as production keeps them with Redis (in the cache, the
    # session written through to the database): the count is the page's own, with or without
    # a Redis beside the tests.
    with override_settings(
        MIDDLEWARE=COUNTING,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        SESSION_ENGINE="django.contrib.sessions.backends.cached_db",
    ):
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = tenant.session_key
        # The first request of a token records its use (a write made at most once a minute):
        # warm up so that both sizes are measured in the same, steady state.
        get(client, tenant)
        response = get(client, tenant)
    assert response.status_code == 200, response.content[:500]
    return int(response[QUERY_COUNT_HEADER])


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_queries_per_request_are_the_same_for_3_50_and_500_domains(endpoint: str) -> None:
    rng = random.Random(7)
    # 3 as well: 50 and 500 both fill a page of 50, so a query per row shown would be the
    # same for both; only a short page exposes it.
    tenants = [seed_tenant(size, rng) for size in (3, 50, 500)]

    counts = [_queries(tenant, ENDPOINTS[endpoint]) for tenant in tenants]

    assert counts[0] == counts[1] == counts[2]
    assert counts[0] > 1


def test_the_dashboard_and_the_api_show_50_domains_a_page() -> None:
    tenant = seed_tenant(120, random.Random(3))
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = tenant.session_key

    dashboard = client.get("/dashboard/").content.decode()
    api = _api_list(client, tenant).json()

    assert dashboard.count('href="/domains/') == 50
    assert "Page 1 of 3" in dashboard
    assert api["count"] == 120
    assert len(api["results"]) == 50


def test_the_product_has_no_hello_view_and_no_query_header(client: Client) -> None:
    assert not any(name.startswith("bench.") for name in settings.MIDDLEWARE)
    with pytest.raises(Resolver404):
        resolve("/bench/hello/")

    response = client.get("/healthz")

    assert QUERY_COUNT_HEADER not in response
    assert SERVER_TIME_HEADER not in response
    assert client.get("/bench/hello/").status_code == 404


ADMIN_PAGES = [
    "domains/domain/",
    "domains/domain/?status__exact=active&cloudflare_status=active",
    "domains/domainevent/",
    "domains/domainevent/?kind__exact=created",
]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_the_admin_changelists_run_as_many_queries_for_3_or_500_domains(
    page: str, staff_client: Client
) -> None:
    rng = random.Random(11)
    url = f"/{settings.ADMIN_URL}{page}"
    counts = []
    for size in (3, 500):
        seed_tenant(size, rng)
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]


# What each page may cost: no more queries than the release before the page cache went
# (5cad9fd), where an organization with origins and a domain with hand-off links add one each.
BUDGETS = {
    "dashboard_list": (3, 4),
    "domain_page": (3, 5),
    "status_fragment": (3, 3),
    "api_list": (3, 3),
    "api_detail": (2, 2),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_page_runs_no_more_queries_than_its_budget_and_none_for_an_empty_list(
    endpoint: str,
) -> None:
    tenant = seed_tenant(3, random.Random(11))
    bare, full = BUDGETS[endpoint]

    assert _queries(tenant, ENDPOINTS[endpoint]) == bare

    Origin.objects.create(
        organization_id=tenant.organization_id,
        name="App",
        address="app.example.com",
        record_name=f"o-{tenant.organization_id}.origins.example",
    )
    handoff_create(domain=Domain.objects.get(pk=tenant.domain_id))

    assert _queries(tenant, ENDPOINTS[endpoint]) == full
