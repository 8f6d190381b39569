"""The token API, over the test client, against the Cloudflare and DNS simulators."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization, User
from accounts.services import api_token_create, api_token_revoke
from domains.models import Domain, DomainStatus
from domains.services import domain_finish_deletion, domain_finish_registration, domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = pytest.mark.django_db

API = "/api/v1/domains"


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def wait_for(condition: Callable[[], bool]) -> None:
    """Until the simulator has done what it was told to do late (a slow answer's work)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the simulator never finished"
        time.sleep(0.02)


def post(client: Client, token: str, body: dict[str, object], **extra: str):  # noqa: ANN201
    return client.post(API, body, content_type="application/json", **auth(token), **extra)


@pytest.fixture
def acme_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname="api.acme.test-customer.dev").domain


# -- authentication ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer dcv_wrong", "Token dcv_x", "Bearer dcv_a dcv_b"],
)
def test_requests_without_a_valid_token_get_401_with_a_json_error(
    client: Client, acme: Organization, header: str | None
) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get(API, **extra)

    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401(client: Client, acme: Organization, alice: User) -> None:
    token, raw = api_token_create(organization=acme, created_by=alice, name="old")
    api_token_revoke(token=token)

    response = client.get(API, **auth(raw))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_the_token_api_is_throttled_per_token_with_retry_after(
    client: Client, acme_token: str, settings
) -> None:
    settings.API_THROTTLE_RATE = "3/min"

    codes = [client.get(API, **auth(acme_token)).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    limited = client.get(API, **auth(acme_token))
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["code"] == "throttled"


# -- create -----------------------------------------------------------------------------------
def test_creating_a_domain_answers_201_with_the_records_to_create(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    response = post(client, acme_token, {"hostname": "New.Acme.test-customer.dev"})

    assert response.status_code == 201
    body = response.json()
    assert body["hostname"] == "new.acme.test-customer.dev"
    assert body["status"] == "pending"
    assert body["ready"] is False
    assert body["dns_records"][0] == {
        "type": "CNAME",
        "name": "new.acme.test-customer.dev",
        "host": "new.acme",
        "value": "dcv.pcnaid.com",
        "required": True,
        "purpose": body["dns_records"][0]["purpose"],
    }
    assert body["explanation"]["headline"] == "Waiting for the DNS record"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"hostname": "10.0.0.1"}, "ip_address"),
        ({"hostname": "shop.example.com"}, "example_domain"),
        ({"hostname": ""}, "blank"),
        ({}, "required"),
        ({"hostname": 42}, "invalid_type"),
        ({"hostname": 123}, "invalid_type"),
        ({"hostname": None}, "null"),
        ({"hostname": ["a.test-customer.dev"]}, "invalid_type"),
        ({"hostname": "ap@p.shop.test-customer.dev"}, "userinfo"),
        ({"hostname": "mailto:a@shop.test-customer.dev"}, "unsupported_scheme"),
        ({"hostname": "ftp://shop.test-customer.dev/"}, "unsupported_scheme"),
        ({"hostname": "1.0.0.127.in-addr.arpa"}, "reserved_tld"),
        ({"hostname": "app.home.arpa"}, "reserved_tld"),
        ({"hostname": "app.shop.test-customer.dev.."}, "empty_label"),
        # Fits in 300 characters only once the spaces are trimmed.
        ({"hostname": " " * 290 + "app.shop.test-customer.dev"}, "max_length"),
    ],
)
def test_bad_input_gets_400_with_a_field_error_and_a_stable_code(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox, body: dict, code: str
) -> None:
    response = post(client, acme_token, body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["errors"]["hostname"][0]["message"]
    assert not Domain.objects.exists()


def test_malformed_json_gets_400(client: Client, acme_token: str) -> None:
    response = client.post(API, "{nope", content_type="application/json", **auth(acme_token))

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_over_the_plan_limit_gets_402_plan_limit(
    client: Client, acme: Organization, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    for n in range(3):
        domain_register(organization=acme, hostname=f"p{n}.acme.test-customer.dev")

    response = post(client, acme_token, {"hostname": "p4.acme.test-customer.dev"})

    assert response.status_code == 402
    assert response.json()["code"] == "plan_limit"


def test_a_taken_hostname_gets_409(
    client: Client, acme_token: str, umbrella: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain_register(organization=umbrella, hostname="taken.test-customer.dev")

    response = post(client, acme_token, {"hostname": "taken.test-customer.dev"})

    assert response.status_code == 409
    assert response.json()["code"] == "hostname_taken"
    assert "Umbrella" not in response.content.decode()


def test_an_idempotency_key_replays_the_first_answer(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    body = {"hostname": "once.acme.test-customer.dev"}

    first = post(client, acme_token, body, HTTP_IDEMPOTENCY_KEY="k-1")
    second = post(client, acme_token, body, HTTP_IDEMPOTENCY_KEY="k-1")
    other = post(
        client, acme_token, {"hostname": "x.acme.test-customer.dev"}, HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Domain.objects.count() == 1
    assert len(cloudflare_sim.hostnames()) == 1


# -- read -------------------------------------------------------------------------------------
def test_listing_is_paginated_and_filters_by_status(
    client: Client, acme: Organization, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    for n in range(3):
        domain_register(organization=acme, hostname=f"l{n}.acme.test-customer.dev")
    Domain.objects.filter(hostname="l1.acme.test-customer.dev").update(status=DomainStatus.ACTIVE)

    page = client.get(f"{API}?page_size=2", **auth(acme_token)).json()
    active = client.get(f"{API}?status=active", **auth(acme_token)).json()
    bad = client.get(f"{API}?status=nonsense", **auth(acme_token))

    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]
    assert [d["hostname"] for d in active["results"]] == ["l1.acme.test-customer.dev"]
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_choice"


def test_reading_one_domain(client: Client, acme_token: str, acme_domain: Domain) -> None:
    body = client.get(f"{API}/{acme_domain.pk}", **auth(acme_token)).json()

    assert body["id"] == str(acme_domain.pk)
    assert body["cloudflare"]["hostname_status"] == "pending"
    assert body["certificate"] is None


# -- check and delete -------------------------------------------------------------------------
def test_check_now_returns_the_dns_verdict_and_is_throttled(
    client: Client, acme_token: str, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    dns_sandbox.cname("api.acme.test-customer.dev", "dcv.pcnaid.com")

    first = client.post(f"{API}/{acme_domain.pk}/check", **auth(acme_token))
    second = client.post(f"{API}/{acme_domain.pk}/check", **auth(acme_token))

    assert first.status_code == 200
    assert first.json()["dns"]["verdict"] == "points_to_us"
    assert first.json()["dns"]["code"] == "points_to_us"
    assert first.json()["domain"]["status"] == "active"
    assert first.json()["domain"]["certificate"]["expires_at"]
    assert second.status_code == 429
    assert second.json()["code"] == "throttled"
    assert int(second["Retry-After"]) > 0


def test_deleting_offboards_and_answers_204(
    client: Client, acme_token: str, acme_domain: Domain, cloudflare_sim: CloudflareSandbox
) -> None:
    response = client.delete(f"{API}/{acme_domain.pk}", **auth(acme_token))

    assert response.status_code == 204
    assert not Domain.objects.exists()
    assert cloudflare_sim.hostnames() == []


def test_deleting_while_cloudflare_fails_answers_202_deleting(
    client: Client,
    acme_token: str,
    acme_domain: Domain,
    cloudflare_sim: CloudflareSandbox,
    settings,
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 0
    cloudflare_sim.inject_fault("503", method="DELETE")

    response = client.delete(f"{API}/{acme_domain.pk}", **auth(acme_token))

    assert response.status_code == 202
    assert response.json()["status"] == "deleting"
    assert Domain.objects.get().status == DomainStatus.DELETING


# -- DNS records ------------------------------------------------------------------------------
def test_the_dns_endpoint_answers_every_record_expected_vs_found_and_checks_again_when_stale(
    client: Client, acme_token: str, acme_domain: Domain, dns_sandbox: DnsSandbox, settings: Any
) -> None:
    dns_sandbox.add_zone("acme.test-customer.dev")
    first = client.get(f"{API}/{acme_domain.pk}/dns", **auth(acme_token)).json()
    dns_sandbox.cname(acme_domain.hostname, "dcv.pcnaid.com")
    fresh = client.get(f"{API}/{acme_domain.pk}/dns", **auth(acme_token)).json()
    settings.DNS_CHECK_FRESH_SECONDS = 0
    again = client.get(f"{API}/{acme_domain.pk}/dns", **auth(acme_token)).json()

    assert first[0] == {
        "name": acme_domain.hostname,
        "type": "CNAME",
        "expected": "dcv.pcnaid.com",
        "found": [],
        "authoritative_found": None,  # the zone's nameserver has no address here
        "match": False,
        "code": "missing",
        "message": first[0]["message"],
        "required": True,
    }
    assert acme_domain.hostname in first[0]["message"]
    assert {row["type"] for row in first} >= {"CNAME", "TXT", "CAA"}
    assert fresh == first  # checked moments ago: that answer
    assert (again[0]["match"], again[0]["found"]) == (True, ["dcv.pcnaid.com"])


def test_check_now_answers_every_records_check_too(
    client: Client, acme_token: str, acme_domain: Domain
) -> None:
    body = client.post(f"{API}/{acme_domain.pk}/check", **auth(acme_token)).json()

    assert body["records"][0]["type"] == "CNAME"
    assert body["records"][0]["code"] == "missing"


# -- tenant walls -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("delete", ""), ("post", "/check"), ("get", "/dns")]
)
def test_another_organizations_domain_is_a_404_for_every_endpoint(
    client: Client, umbrella_token: str, acme_domain: Domain, method: str, suffix: str
) -> None:
    response = getattr(client, method)(f"{API}/{acme_domain.pk}{suffix}", **auth(umbrella_token))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Domain.objects.filter(pk=acme_domain.pk, status=DomainStatus.PENDING).exists()


def test_another_organizations_domains_are_not_listed(
    client: Client, umbrella_token: str, acme_domain: Domain
) -> None:
    assert client.get(API, **auth(umbrella_token)).json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("delete", ""), ("post", "/check"), ("get", "/dns")]
)
def test_anonymous_requests_get_401_for_every_endpoint(
    client: Client, acme_domain: Domain, method: str, suffix: str
) -> None:
    assert getattr(client, method)(f"{API}/{acme_domain.pk}{suffix}").status_code == 401


@pytest.mark.parametrize(
    "path",
    ["/nope", "/domains/not-a-uuid", "/domains/not-a-uuid/check", "/domains/%0A/check", "/%0A"],
)
def test_anything_else_under_the_api_is_a_json_404(client: Client, path: str) -> None:
    response = client.post(f"/api/v1{path}")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


# -- schema -----------------------------------------------------------------------------------
def test_the_openapi_schema_and_docs_are_served_without_a_cdn(client: Client) -> None:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    docs = client.get("/api/v1/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert set(paths) == {
        "/api/v1/audit-events",
        "/api/v1/members",
        "/api/v1/invitations",
        "/api/v1/invitations/{invitation_id}",
        "/api/v1/domains",
        "/api/v1/domains/{domain_id}",
        "/api/v1/domains/{domain_id}/check",
        "/api/v1/domains/{domain_id}/dns",
        "/api/v1/domains/{domain_id}/handoffs",
        "/api/v1/domains/{domain_id}/handoffs/{handoff_id}",
        "/api/v1/origins",
        "/api/v1/origins/{origin_id}",
        "/api/v1/webhook-endpoints",
        "/api/v1/webhook-endpoints/{endpoint_id}",
        "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        "/api/v1/webhook-endpoints/{endpoint_id}/test",
        "/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
        "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend",
    }
    assert {"201", "400", "402", "409", "401", "429"} <= set(
        paths["/api/v1/domains"]["post"]["responses"]
    )
    assert docs.status_code == 200
    assert b"cdn." not in docs.content
    assert b"/static/drf_spectacular_sidecar/" in docs.content


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "?stauts=active"),
        ("post", "?dry_run=1"),
        ("get", "/{id}?expand=1"),
        ("delete", "/{id}?force=1"),
    ],
)
def test_unknown_query_parameters_are_refused_not_ignored(
    client: Client, acme_token: str, acme_domain: Domain, method: str, path: str
) -> None:
    url = API + path.replace("{id}", str(acme_domain.pk))

    response = getattr(client, method)(url, **auth(acme_token))

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_parameter"
    assert Domain.objects.filter(pk=acme_domain.pk).exists()


@pytest.mark.parametrize("suffix", ["", "/"])
def test_the_domain_list_answers_with_or_without_a_trailing_slash(
    client: Client, acme_token: str, acme_domain: Domain, suffix: str
) -> None:
    listed = client.get(f"/api/v1/domains{suffix}", HTTP_AUTHORIZATION=f"Bearer {acme_token}")
    one = client.get(
        f"/api/v1/domains/{acme_domain.pk}{suffix}", HTTP_AUTHORIZATION=f"Bearer {acme_token}"
    )

    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [str(acme_domain.pk)]
    assert one.json()["id"] == str(acme_domain.pk)


def test_a_post_with_a_trailing_slash_adds_the_domain(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    response = client.post(
        "/api/v1/domains/",
        {"hostname": "slash.acme.test-customer.dev"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {acme_token}",
    )

    assert response.status_code == 201
    assert Domain.objects.filter(hostname="slash.acme.test-customer.dev").exists()


def test_the_schema_lists_each_endpoint_once_without_the_slash(client: Client) -> None:
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    assert "/api/v1/domains" in paths
    assert "/api/v1/domains/" not in paths
    assert "/api/v1/domains/{domain_id}/" not in paths


def test_a_cloudflare_that_hangs_gets_a_202_registering_and_the_loop_finishes_it(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_INTERACTIVE_SECONDS = 0.5
    cloudflare_sim.inject_fault("slow", method="POST", count=1, delay=3.0)

    response = post(client, acme_token, {"hostname": "hang.acme.test-customer.dev"})
    answered_before_cloudflare = not cloudflare_sim.hostnames()

    assert response.status_code == 202
    assert answered_before_cloudflare  # the request did not wait for the slow create
    assert response.json()["status"] == "registering"
    assert "did not answer within a few seconds" in response.json()["last_error"]
    # The create Cloudflare finishes late is adopted by the loop, not duplicated.
    wait_for(lambda: bool(cloudflare_sim.hostnames()))
    domain = domain_finish_registration(domain=Domain.objects.get())
    assert domain.status == DomainStatus.PENDING
    assert len(cloudflare_sim.hostnames()) == 1


def test_a_rate_limited_cloudflare_gets_a_202_that_says_it_is_a_rate_limit(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    cloudflare_sim.inject_fault("429", method="POST", retry_after=60)

    response = post(client, acme_token, {"hostname": "busy.acme.test-customer.dev"})

    assert response.status_code == 202
    assert response.json()["status"] == "registering"
    assert "rate limiting" in response.json()["last_error"]
    assert "unreachable" not in response.json()["last_error"]
    assert len([r for r in cloudflare_sim.requests if r.method == "POST"]) == 1


def test_a_removal_cloudflare_is_slow_to_confirm_gets_a_202_and_stays_removing(
    client: Client,
    acme_token: str,
    acme_domain: Domain,
    cloudflare_sim: CloudflareSandbox,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_INTERACTIVE_SECONDS = 0.5
    cloudflare_sim.inject_fault("slow", method="DELETE", count=1, delay=3.0)

    response = client.delete(f"{API}/{acme_domain.pk}", **auth(acme_token))
    answered_before_cloudflare = bool(cloudflare_sim.hostnames())

    assert response.status_code == 202
    assert answered_before_cloudflare
    assert response.json()["status"] == "deleting"
    wait_for(lambda: not cloudflare_sim.hostnames())
    assert domain_finish_deletion(domain=Domain.objects.get()) is None
    assert not Domain.objects.exists()


def test_check_now_with_a_hanging_cloudflare_answers_in_seconds_with_the_dns_verdict(
    client: Client,
    acme_token: str,
    acme_domain: Domain,
    cloudflare_sim: CloudflareSandbox,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_INTERACTIVE_SECONDS = 0.5
    cloudflare_sim.inject_fault("slow", method="PATCH", count=1, delay=3.0)

    response = client.post(f"{API}/{acme_domain.pk}/check", **auth(acme_token))
    patch = next(r for r in cloudflare_sim.requests if r.method == "PATCH")
    answered_before_cloudflare = patch.status == 0  # the simulator had not answered yet

    assert response.status_code == 200
    assert answered_before_cloudflare
    assert "did not answer within a few seconds" in response.json()["cloudflare_error"]
    assert response.json()["dns"]["verdict"]
    wait_for(lambda: patch.status != 0)


def test_an_internationalised_name_is_answered_in_both_forms(
    client: Client, acme_token: str, cloudflare_sim: CloudflareSandbox
) -> None:
    response = post(client, acme_token, {"hostname": "bücher-shop.acme.test-customer.dev"})

    assert response.json()["hostname"] == "xn--bcher-shop-9db.acme.test-customer.dev"
    assert response.json()["unicode_hostname"] == "bücher-shop.acme.test-customer.dev"
