"""Hostile and careless input to the API: a body nested to exhaust the parser, fields nobody
knows, the more specific refusal first, and every list in the same shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloudflare_sim")]


def call(client: Client, token: str, method: str, path: str, body: Any = None) -> Any:
    return client.generic(
        method,
        f"/api/v1{path}",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.mark.parametrize("path", ["/webhook-endpoints", "/origins", "/domains"])
def test_a_body_of_deeply_nested_arrays_gets_400_json_too_deep_not_500(
    client: Client, acme_token: str, path: str
) -> None:
    body = "[" * 100_000 + "]" * 100_000  # 200 KB

    response = call(client, acme_token, "POST", path, body)

    assert response.status_code == 400
    assert response.json()["code"] == "json_too_deep"


def test_a_body_nested_just_past_the_limit_is_refused_and_one_within_it_is_read(
    client: Client, acme_token: str
) -> None:
    too_deep = {"hostname": json.loads("[" * 32 + "]" * 32)}
    deep = {"hostname": json.loads("[" * 30 + "]" * 30)}

    refused = call(client, acme_token, "POST", "/domains", too_deep)
    read = call(client, acme_token, "POST", "/domains", deep)

    assert refused.json()["code"] == "json_too_deep"
    assert read.status_code == 400
    assert read.json()["code"] == "invalid_type"  # parsed, then refused for what it is


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/domains", {"hostname": "a.acme-customer.dev", "orgin": None}, "orgin"),
        ("POST", "/origins", {"name": "Prod", "address": "93.184.215.14", "dflt": 1}, "dflt"),
        (
            "POST",
            "/webhook-endpoints",
            {"url": "https://hooks.acme-app.dev/in", "evnet_types": ["domain.active"]},
            "evnet_types",
        ),
    ],
)
def test_a_field_the_endpoint_does_not_know_gets_400_naming_it(
    client: Client, acme_token: str, method: str, path: str, body: Any, field: str
) -> None:
    response = call(client, acme_token, method, path, body)

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert list(response.json()["errors"]) == [field]


def test_a_misspelt_field_in_a_change_changes_nothing(
    client: Client, acme: Organization, acme_token: str
) -> None:
    domain = domain_register(organization=acme, hostname="shop.acme-customer.dev").domain

    response = call(client, acme_token, "PATCH", f"/domains/{domain.pk}", {"origni": None})

    assert response.status_code == 400
    assert response.json()["errors"]["origni"][0]["code"] == "unknown_field"


def test_re_adding_a_domain_at_the_plan_limit_says_it_is_already_added(
    client: Client, acme: Organization, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    for n in range(3):  # the Free plan's limit
        domain_register(organization=acme, hostname=f"p{n}.acme-customer.dev")

    response = call(client, acme_token, "POST", "/domains", {"hostname": "p1.acme-customer.dev"})

    assert response.status_code == 409
    assert response.json()["code"] == "already_added"


@pytest.mark.usefixtures("acme_on_pro")
@pytest.mark.parametrize("path", ["/domains", "/origins", "/webhook-endpoints"])
def test_every_list_endpoint_answers_a_page(client: Client, acme_token: str, path: str) -> None:
    response = call(client, acme_token, "GET", f"{path}?page_size=2")

    assert response.status_code == 200
    assert set(response.json()) == {"count", "next", "previous", "results"}
