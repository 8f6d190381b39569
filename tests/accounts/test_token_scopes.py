"""Scoped API tokens: a read token looks and never changes anything (403 `read_only_token` on
every writing endpoint, found from the URL patterns, not a hand list); a token can expire;
tokens made before scopes existed keep writing."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import URLPattern
from django.utils import timezone
from rest_framework.views import APIView

from accounts.models import ApiToken, Organization, TokenScope, User
from accounts.services import api_token_create
from domains import api_urls

pytestmark = pytest.mark.django_db

WRITING = ("post", "put", "patch", "delete")


def writing_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every writing API method, its path parameters filled in."""
    found = []
    for pattern in api_urls.urlpatterns:
        view_class = getattr(pattern.callback, "view_class", None)
        if not isinstance(pattern, URLPattern) or view_class is None:
            continue
        if not issubclass(view_class, APIView) or str(pattern.pattern).endswith("/"):
            continue  # the trailing-slash twin of a path already listed
        route = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), str(pattern.pattern))
        route = re.sub(r"<int:\w+>", "1", route)
        found += [(m, f"/api/v1/{route}") for m in WRITING if hasattr(view_class, m)]
    return found


def auth(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def read_token(acme: Organization, alice: User) -> str:
    return api_token_create(
        organization=acme, created_by=alice, name="dashboards", scope=TokenScope.READ
    )[1]


def test_the_list_of_writing_endpoints_is_found_from_the_url_patterns() -> None:
    endpoints = writing_endpoints()

    assert ("post", "/api/v1/domains") in endpoints
    assert any(m == "delete" and "/handoffs/" in p for m, p in endpoints)
    assert len(endpoints) >= 10


@pytest.mark.parametrize(("method", "path"), writing_endpoints())
def test_a_read_token_is_refused_on_every_writing_endpoint(
    client: Client, read_token: str, method: str, path: str
) -> None:
    response = getattr(client, method)(
        path, {}, content_type="application/json", **auth(read_token)
    )

    assert response.status_code == 403
    assert response.json()["code"] == "read_only_token"
    assert "can only read" in response.json()["detail"]


def test_a_read_token_reads(client: Client, read_token: str) -> None:
    assert client.get("/api/v1/domains", **auth(read_token)).status_code == 200
    assert client.get("/api/v1/origins", **auth(read_token)).status_code == 200


def test_a_write_token_and_a_token_from_before_scopes_write(
    client: Client, acme: Organization, alice: User, acme_token: str
) -> None:
    body = {"hostname": "new.acme.test-customer.dev"}
    assert ApiToken.objects.get().scope == TokenScope.WRITE  # the default, as before scopes

    response = client.post(
        "/api/v1/domains", body, content_type="application/json", **auth(acme_token)
    )

    assert response.status_code != 403


def test_an_expired_token_is_a_401(client: Client, acme: Organization, alice: User) -> None:
    raw = api_token_create(organization=acme, created_by=alice, name="ci", expires_in_days=30)[1]

    fresh = client.get("/api/v1/domains", **auth(raw))
    with time_machine.travel(timezone.now() + timedelta(days=30, seconds=1)):
        expired = client.get("/api/v1/domains", **auth(raw))

    assert fresh.status_code == 200
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_the_tokens_page_makes_a_read_token_that_expires_and_shows_its_scope(
    client: Client, alice: User
) -> None:
    client.force_login(alice)
    page = client.get("/tokens/").content.decode()
    key = re.search(r'name="once" value="([^"]+)"', page)
    assert key is not None
    form = {"name": "dashboards", "scope": "read", "expires_in_days": "90", "once": key[1]}

    response = client.post("/tokens/", form)

    token = ApiToken.objects.get()
    assert response.status_code == 200
    assert token.scope == TokenScope.READ
    assert token.expires_at is not None
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    shown = client.get("/tokens/").content.decode()
    assert 'data-testid="token-scope-shown">read</td>' in shown
    assert "active, expires" in shown
