"""The origins API (`/api/v1/origins`) and the `origin` of a domain in the domains API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization
from domains.models import Origin
from domains.origins.services import origin_create, origins_sync
from sandbox.cloudflare import CloudflareSandbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("acme_on_pro")]

APP = "93.184.215.14"
OTHER = "93.184.215.15"


def call(client: Client, token: str, method: str, path: str, body: Any = None) -> Any:
    return client.generic(
        method,
        f"/api/v1{path}",
        data=None if body is None else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_an_origin_is_added_listed_changed_made_default_and_removed(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    created = call(client, acme_token, "POST", "/origins", {"name": "Prod", "address": APP})
    second = call(
        client, acme_token, "POST", "/origins", {"name": "Staging", "address": OTHER}
    ).json()
    listed = call(client, acme_token, "GET", "/origins")
    renamed = call(
        client,
        acme_token,
        "PATCH",
        f"/origins/{second['id']}",
        {"name": "Stage", "is_default": True},
    )
    refused = call(client, acme_token, "DELETE", f"/origins/{second['id']}")
    removed = call(client, acme_token, "DELETE", f"/origins/{created.json()['id']}")

    assert created.status_code == 201
    assert created.json()["is_default"] is True
    assert created.json()["state"] == "pending"
    assert created.json()["record_name"].endswith(".origins.pcnaid.com")
    assert [o["name"] for o in listed.json()["results"]] == ["Prod", "Staging"]
    assert renamed.json()["name"] == "Stage"
    assert renamed.json()["is_default"] is True
    assert refused.status_code == 409
    assert refused.json()["code"] == "default_in_use"
    assert removed.status_code == 202
    assert removed.json()["state"] == "deleting"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"name": "Prod", "address": "10.0.0.1"}, "refused_address", "address"),
        ({"name": "Prod", "address": "app.internal"}, "reserved_tld", "address"),
        ({"name": "Prod", "address": "dcv.pcnaid.com"}, "own_zone", "address"),
        ({"name": " ", "address": APP}, "blank", "name"),
        ({"name": "Prod", "address": 42}, "invalid_type", "address"),
        ({"name": "Prod", "address": APP, "is_default": "yes"}, "invalid", "is_default"),
    ],
)
def test_a_refused_origin_gets_a_400_naming_the_field(
    client: Client, acme_token: str, body: dict[str, Any], code: str, field: str
) -> None:
    response = call(client, acme_token, "POST", "/origins", body)

    assert response.status_code == 400
    assert response.json()["errors"][field][0]["code"] == code
    assert not Origin.objects.exists()


def test_a_domain_is_added_on_an_origin_and_moved_back_to_the_default(
    client: Client, acme: Organization, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    default = origin_create(organization=acme, name="Prod", address=APP)
    staging = origin_create(organization=acme, name="Staging", address=OTHER)
    origins_sync()

    added = call(
        client,
        acme_token,
        "POST",
        "/domains",
        {"hostname": "shop.acme-customer.dev", "origin": str(staging.pk)},
    ).json()
    moved = call(client, acme_token, "PATCH", f"/domains/{added['id']}", {"origin": None}).json()
    origins_sync()
    settled = call(client, acme_token, "GET", f"/domains/{added['id']}").json()

    assert added["origin"] == str(staging.pk)
    assert added["served_by"]["name"] == "Staging"
    assert added["origin_moving"] is False
    assert moved["origin"] is None
    assert moved["origin_moving"] is True
    assert settled["served_by"] == {"id": str(default.pk), "name": "Prod", "address": APP}
    assert settled["origin_moving"] is False


def test_another_organizations_origins_are_404_and_never_serve_our_domains(
    client: Client,
    acme: Organization,
    acme_token: str,
    umbrella: Organization,
    cloudflare_sim: CloudflareSandbox,
) -> None:
    theirs = origin_create(organization=umbrella, name="Theirs", address=APP)
    domain = call(
        client, acme_token, "POST", "/domains", {"hostname": "shop.acme-customer.dev"}
    ).json()

    answers = [
        call(client, acme_token, "GET", f"/origins/{theirs.pk}"),
        call(client, acme_token, "PATCH", f"/origins/{theirs.pk}", {"name": "Mine"}),
        call(client, acme_token, "DELETE", f"/origins/{theirs.pk}"),
    ]
    attach = call(
        client, acme_token, "PATCH", f"/domains/{domain['id']}", {"origin": str(theirs.pk)}
    )
    add = call(
        client,
        acme_token,
        "POST",
        "/domains",
        {"hostname": "b.acme-customer.dev", "origin": str(theirs.pk)},
    )
    listed = call(client, acme_token, "GET", "/origins").json()["results"]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert (attach.status_code, attach.json()["code"]) == (400, "unknown_origin")
    assert (add.status_code, add.json()["code"]) == (400, "unknown_origin")
    assert listed == []
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_the_schema_documents_origins_with_examples(client: Client) -> None:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    create = schema["paths"]["/api/v1/origins"]["post"]
    domain = schema["components"]["schemas"]["DomainOutput"]["properties"]

    assert create["requestBody"]["content"]["application/json"]["examples"]
    assert create["responses"]["201"]["content"]["application/json"]["examples"]
    assert {"origin", "served_by", "origin_moving"} <= set(domain)
    assert "patch" in schema["paths"]["/api/v1/domains/{domain_id}"]
