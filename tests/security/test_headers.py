"""Security headers and the Content Security Policy, on every kind of page we serve."""

from __future__ import annotations

from typing import Any

import pytest
from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Client, alice: User, acme: Organization) -> Client:
    client.force_login(alice)
    return client


def directives(response: Any) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize(
    ("path", "as_member"),
    [
        ("/", False),
        ("/accounts/login/", False),
        ("/dashboard/", True),
        ("/tokens/", True),
        ("/billing/", True),
        ("/api/v1/docs/", False),
    ],
)
def test_every_page_allows_only_our_own_scripts_styles_and_no_framing(
    signed_in: Client, path: str, as_member: bool
) -> None:
    response = (signed_in if as_member else Client()).get(path)

    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'"
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_only_the_api_docs_page_allows_swagger_uis_one_inline_style_by_hash(
    client: Client,
) -> None:
    docs = directives(client.get("/api/v1/docs/"))
    home = directives(client.get("/"))

    assert len(docs["style-src"]) == 2
    assert docs["style-src"][1].startswith("'sha256-")
    assert home["style-src"] == ["'self'"]


def test_the_api_docs_start_up_script_is_a_file_not_inline(client: Client) -> None:
    page = client.get("/api/v1/docs/").content.decode()
    script = client.get("/api/v1/docs/?script=")

    assert "<script>" not in page
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_an_inline_script_is_allowed_only_with_the_requests_own_nonce() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f'<script nonce="{request.csp_nonce}">go()</script>')  # type: ignore[attr-defined]

    middleware = CSPMiddleware(view)
    first = middleware(RequestFactory().get("/"))
    second = middleware(RequestFactory().get("/"))

    nonces = [
        [s for s in directives(r)["script-src"] if s.startswith("'nonce-")] for r in (first, second)
    ]
    assert all(len(n) == 1 for n in nonces)
    assert nonces[0] != nonces[1]
    assert nonces[0][0].removeprefix("'nonce-").removesuffix("'") in first.content.decode()


def test_pages_carry_nosniff_referrer_policy_and_deny_framing(signed_in: Client) -> None:
    response = signed_in.get("/dashboard/")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_api_responses_carry_the_same_headers(client: Client) -> None:
    response = client.get("/api/v1/domains")

    assert response.status_code == 401
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_htmx_is_told_not_to_inject_styles_eval_or_run_swapped_in_scripts(
    signed_in: Client,
) -> None:
    page = signed_in.get("/dashboard/").content.decode()

    assert '<meta name="htmx-config"' in page
    assert '"includeIndicatorStyles": false' in page
    assert '"allowEval": false' in page
    assert '"allowScriptTags": false' in page


def test_the_pages_we_render_contain_no_inline_script_or_style(signed_in: Client) -> None:
    pages = [Client().get(reverse(name)) for name in ("home", "account_login")] + [
        signed_in.get(reverse(name))
        for name in ("dashboard", "accounts:api_tokens", "billing:page")
    ]
    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        assert "<script>" not in page
        assert "<style" not in page
        assert " style=" not in page
