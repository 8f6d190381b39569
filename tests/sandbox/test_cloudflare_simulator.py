"""The Cloudflare simulator's HTTP contract (domains/cloudflare/CONTRACT.md §1-§3), spoken to with
plain requests.

Every answer here is also checked against the OpenAPI schema by the `cloudflare_sim` fixture.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from domains.dns import Verdict, check_cname
from sandbox.cloudflare import CloudflareSandbox, app_from_settings
from sandbox.dns import DnsSandbox
from sandbox.server import Request, Response
from tests.fixtures.cloudflare import CloudflareHttp, schema_problem

HOST = "shop.test-customer.dev"


def error_code(response: requests.Response) -> int:
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    return body["errors"][0]["code"]


# -- create -----------------------------------------------------------------------------------


def test_create_answers_201_with_a_pending_hostname_and_its_validation_records(
    cloudflare_http: CloudflareHttp,
) -> None:
    response = cloudflare_http.request(
        "POST", json={"hostname": HOST, "ssl": {"method": "http", "type": "dv"}}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"] == []
    result = body["result"]
    assert re.fullmatch(r"[0-9a-f-]{36}", result["id"])
    assert result["hostname"] == HOST
    assert result["status"] == "pending"
    assert result["verification_errors"] == ["custom hostname does not CNAME to this zone."]
    assert result["ownership_verification"]["name"] == f"_cf-custom-hostname.{HOST}"
    assert result["ownership_verification_http"]["http_url"].startswith(f"http://{HOST}/")
    assert result["ssl"]["status"] == "pending_validation"
    txt = [r for r in result["ssl"]["validation_records"] if "txt_name" in r]
    assert txt[0]["txt_name"] == f"_acme-challenge.{HOST}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", txt[0]["txt_value"])
    assert any("http_url" in r and "http_body" in r for r in result["ssl"]["validation_records"])


def test_create_keeps_settings_metadata_and_origin(cloudflare_http: CloudflareHttp) -> None:
    cloudflare_http.dns_record("origin.pcnaid.com", "app.saas-test.dev")
    result = cloudflare_http.create(
        HOST,
        ssl={
            "method": "txt",
            "type": "dv",
            "settings": {"min_tls_version": "1.2", "http2": "on"},
            "bundle_method": "optimal",
            "certificate_authority": "lets_encrypt",
        },
        custom_metadata={"tenant": "t1"},
        custom_origin_server="origin.pcnaid.com",
    )

    assert result["ssl"]["method"] == "txt"
    assert result["ssl"]["settings"] == {"min_tls_version": "1.2", "http2": "on"}
    assert result["ssl"]["bundle_method"] == "optimal"
    assert result["ssl"]["certificate_authority"] == "lets_encrypt"
    assert result["custom_metadata"] == {"tenant": "t1"}
    assert result["custom_origin_server"] == "origin.pcnaid.com"
    assert [r["txt_name"] for r in result["ssl"]["validation_records"]] == [
        f"_acme-challenge.{HOST}"
    ]


def test_create_rejects_a_duplicate_hostname_with_409_1406(
    cloudflare_http: CloudflareHttp,
) -> None:
    cloudflare_http.create(HOST)

    response = cloudflare_http.request("POST", json={"hostname": HOST.upper()})

    assert response.status_code == 409
    assert error_code(response) == 1406


@pytest.mark.parametrize(
    ("hostname", "code"),
    [
        ("-shop.test-customer.dev", 1407),
        ("shop-.test-customer.dev-", 1407),
        ("sh op.test-customer.dev", 1407),
        ("shop_1.test-customer.dev", 1407),
        ("203.0.113.7", 1407),
        ("a" * 250 + ".dev.io", 1407),
        ("", 1407),
        (None, 1407),
        ("bücher.test-customer.dev", 1408),
        ("shop.test", 1409),
        ("shop.localhost", 1409),
        ("shop.example", 1409),
        ("localhostname", 1410),
        ("shop..test-customer.dev", 1410),
        ("shop.example.com", 1411),
        ("example.org", 1411),
        ("*.test-customer.dev", 1448),
    ],
)
def test_create_rejects_invalid_hostnames_with_the_documented_code(
    cloudflare_http: CloudflareHttp, hostname: str | None, code: int
) -> None:
    response = cloudflare_http.request("POST", json={"hostname": hostname})

    assert response.status_code == 400
    assert error_code(response) == code


@pytest.mark.parametrize(
    ("ssl", "code"),
    [
        ({"method": "cname", "type": "dv"}, 1432),
        ({"method": "http", "type": "ov"}, 1433),
        ({"method": "http"}, 1440),
        ({"type": "dv"}, 1440),
        ({"method": "http", "type": "dv", "settings": []}, 1400),
        ({"method": "http", "type": "dv", "settings": {"min_tls_version": "1.4"}}, 1425),
        ({"method": "http", "type": "dv", "settings": {"http2": "yes"}}, 1422),
        ({"method": "http", "type": "dv", "bundle_method": "fastest"}, 1449),
        ({"method": "http", "type": "dv", "certificate_authority": "acme"}, 1434),
        ("http", 1434),
    ],
)
def test_create_rejects_bad_ssl_objects_with_the_documented_code(
    cloudflare_http: CloudflareHttp, ssl: object, code: int
) -> None:
    response = cloudflare_http.request("POST", json={"hostname": HOST, "ssl": ssl})

    assert response.status_code == 400
    assert error_code(response) == code


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"shop.dev"'])
def test_a_body_that_is_not_a_json_object_is_rejected_with_1400(
    cloudflare_http: CloudflareHttp, body: bytes
) -> None:
    response = cloudflare_http.request(
        "POST", data=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert error_code(response) == 1400


def test_hostnames_longer_than_64_characters_need_cloudflare_branding(
    cloudflare_http: CloudflareHttp,
) -> None:
    long_name = "a" * 60 + ".test-customer.dev"

    refused = cloudflare_http.request(
        "POST", json={"hostname": long_name, "ssl": {"method": "http", "type": "dv"}}
    )
    accepted = cloudflare_http.request(
        "POST",
        json={
            "hostname": long_name,
            "ssl": {"method": "http", "type": "dv", "cloudflare_branding": True},
        },
    )

    assert (refused.status_code, error_code(refused)) == (400, 1469)
    assert accepted.status_code == 201


def test_custom_metadata_must_map_strings_to_strings(cloudflare_http: CloudflareHttp) -> None:
    response = cloudflare_http.request(
        "POST", json={"hostname": HOST, "custom_metadata": {"tenant": 1}}
    )

    assert (response.status_code, error_code(response)) == (400, 1401)


# -- quota ------------------------------------------------------------------------------------


def test_quota_reports_usage_and_the_hard_cap_refuses_creates_with_403_1405(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_sim.configure(allocated=1, hard_cap=2)
    cloudflare_http.create("one.test-customer.dev")
    cloudflare_http.create("two.test-customer.dev")

    refused = cloudflare_http.request("POST", json={"hostname": "three.test-customer.dev"})
    quota = cloudflare_http.request("GET", "/quota")

    assert (refused.status_code, error_code(refused)) == (403, 1405)
    assert quota.status_code == 200
    assert quota.json()["result"] == {"allocated": 1, "used": 2, "exceeded": True, "hard_cap": 2}


def test_quota_is_not_exceeded_below_the_allocation(cloudflare_http: CloudflareHttp) -> None:
    cloudflare_http.create(HOST)

    quota = cloudflare_http.request("GET", "/quota").json()["result"]

    assert quota["used"] == 1
    assert quota["exceeded"] is False


# -- get, edit, delete ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_unknown_id_is_404_1436_and_a_malformed_one_400_1435(
    cloudflare_http: CloudflareHttp, method: str
) -> None:
    body = {"custom_metadata": {"a": "b"}} if method == "PATCH" else None

    unknown = cloudflare_http.request(method, "/0d89c70d-ad9f-4843-b99f-6cc0252067e9", json=body)
    malformed = cloudflare_http.request(method, "/not-a-uuid", json=body)

    assert (unknown.status_code, error_code(unknown)) == (404, 1436)
    assert (malformed.status_code, error_code(malformed)) == (400, 1435)


def test_delete_answers_a_bare_id_and_the_hostname_is_gone(
    cloudflare_http: CloudflareHttp,
) -> None:
    created = cloudflare_http.create(HOST)

    response = cloudflare_http.request("DELETE", f"/{created['id']}")

    assert response.status_code == 200
    assert response.json() == {"id": created["id"]}
    assert cloudflare_http.request("GET", f"/{created['id']}").status_code == 404


def test_patch_cannot_change_the_hostname(cloudflare_http: CloudflareHttp) -> None:
    created = cloudflare_http.create(HOST)

    response = cloudflare_http.request(
        "PATCH", f"/{created['id']}", json={"hostname": "other.test-customer.dev"}
    )

    assert (response.status_code, error_code(response)) == (409, 1439)


def test_patch_updates_metadata_and_origin_and_answers_202(
    cloudflare_http: CloudflareHttp,
) -> None:
    created = cloudflare_http.create(HOST, custom_metadata={"tenant": "t1"})

    response = cloudflare_http.request(
        "PATCH",
        f"/{created['id']}",
        json={"custom_metadata": {"tenant": "t2"}, "custom_origin_sni": ":request_host_header:"},
    )

    assert response.status_code == 202
    result = response.json()["result"]
    assert result["custom_metadata"] == {"tenant": "t2"}
    assert result["custom_origin_sni"] == ":request_host_header:"
    assert result["ssl"]["id"] == created["ssl"]["id"]


def test_patch_with_an_incomplete_ssl_object_is_400_1440(
    cloudflare_http: CloudflareHttp,
) -> None:
    created = cloudflare_http.create(HOST)

    response = cloudflare_http.request(
        "PATCH", f"/{created['id']}", json={"ssl": {"certificate_authority": "google"}}
    )

    assert (response.status_code, error_code(response)) == (400, 1440)


# -- auth, zone, routing ----------------------------------------------------------------------


def test_a_request_without_credentials_is_400_9106(cloudflare_sim: CloudflareSandbox) -> None:
    url = f"{cloudflare_sim.base_url}/zones/{cloudflare_sim.zone_id}/custom_hostnames"

    response = requests.get(url, timeout=10)

    assert (response.status_code, error_code(response)) == (400, 9106)


def test_a_wrong_token_is_403_9109(cloudflare_sim: CloudflareSandbox) -> None:
    url = f"{cloudflare_sim.base_url}/zones/{cloudflare_sim.zone_id}/custom_hostnames"

    response = requests.get(url, headers={"Authorization": "Bearer wrong-token"}, timeout=10)

    assert (response.status_code, error_code(response)) == (403, 9109)


def test_the_accounts_global_api_key_with_its_email_is_accepted(
    cloudflare_sim: CloudflareSandbox,
) -> None:
    url = f"{cloudflare_sim.base_url}/zones/{cloudflare_sim.zone_id}/custom_hostnames"
    headers = {"X-Auth-Email": cloudflare_sim.api_email, "X-Auth-Key": cloudflare_sim.api_key}

    response = requests.get(url, headers=headers, timeout=10)

    assert response.status_code == 200
    assert response.json()["success"] is True


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Auth-Email": "ops@saas-test.dev", "X-Auth-Key": "global-key"}, (403, 9103)),
        ({"X-Auth-Key": "sandbox-cloudflare-global-api-key"}, (400, 9106)),
        ({"X-Auth-Email": "sandbox@dcvaas.localhost"}, (400, 9106)),
    ],
)
def test_a_wrong_or_half_global_key_is_refused(
    cloudflare_sim: CloudflareSandbox, headers: dict[str, str], expected: tuple[int, int]
) -> None:
    url = f"{cloudflare_sim.base_url}/zones/{cloudflare_sim.zone_id}/custom_hostnames"

    response = requests.get(url, headers=headers, timeout=10)

    assert (response.status_code, error_code(response)) == expected


def test_an_authorization_header_of_another_scheme_is_400_6003(
    cloudflare_sim: CloudflareSandbox,
) -> None:
    url = f"{cloudflare_sim.base_url}/zones/{cloudflare_sim.zone_id}/custom_hostnames"

    response = requests.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}, timeout=10)

    assert (response.status_code, error_code(response)) == (400, 6003)
    assert response.json()["errors"][0]["error_chain"][0]["code"] == 6111


@pytest.mark.parametrize(("configured", "status"), [(10000, 403), (7003, 400)])
def test_an_unknown_zone_answers_the_configured_error(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, configured: int, status: int
) -> None:
    cloudflare_sim.configure(unknown_zone_code=configured)
    url = f"{cloudflare_sim.base_url}/zones/{'f' * 32}/custom_hostnames"

    response = cloudflare_http.session.get(url, timeout=10)

    assert (response.status_code, error_code(response)) == (status, configured)


def test_paths_outside_the_simulated_apis_have_no_route(cloudflare_sim: CloudflareSandbox) -> None:
    url = f"{cloudflare_sim.base_url}/zones/{cloudflare_sim.zone_id}/page_rules"

    response = requests.get(
        url, headers={"Authorization": f"Bearer {cloudflare_sim.token}"}, timeout=10
    )

    assert (response.status_code, error_code(response)) == (404, 7000)


def test_a_method_the_route_does_not_have_is_405(cloudflare_http: CloudflareHttp) -> None:
    response = cloudflare_http.request("DELETE", "/quota")

    assert (response.status_code, error_code(response)) == (405, 7001)


# -- list: pagination and filters -------------------------------------------------------------


def _create_many(cloudflare_http: CloudflareHttp, count: int) -> list[str]:
    return [cloudflare_http.create(f"h{i:02d}.test-customer.dev")["hostname"] for i in range(count)]


def test_list_pages_carry_result_info_and_a_page_past_the_end_is_empty(
    cloudflare_http: CloudflareHttp,
) -> None:
    names = _create_many(cloudflare_http, 12)

    pages = [
        cloudflare_http.request("GET", params={"per_page": 5, "page": page}).json()
        for page in (1, 2, 3, 4)
    ]

    assert [p["result_info"] for p in pages] == [
        {"page": n, "per_page": 5, "count": c, "total_count": 12, "total_pages": 3}
        for n, c in ((1, 5), (2, 5), (3, 2), (4, 0))
    ]
    assert [r["hostname"] for p in pages for r in p["result"]] == names
    assert pages[3]["result"] == []


def test_list_defaults_to_20_per_page(cloudflare_http: CloudflareHttp) -> None:
    _create_many(cloudflare_http, 21)

    body = cloudflare_http.request("GET").json()

    assert body["result_info"] == {
        "page": 1,
        "per_page": 20,
        "count": 20,
        "total_count": 21,
        "total_pages": 2,
    }


def test_an_empty_zone_lists_nothing(cloudflare_http: CloudflareHttp) -> None:
    body = cloudflare_http.request("GET").json()

    assert body["result"] == []
    assert body["result_info"]["total_count"] == 0
    assert body["result_info"]["total_pages"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 4},
        {"per_page": 51},
        {"per_page": "ten"},
        {"per_page": 5.5},
        {"page": 0},
        {"order": "hostname"},
        {"direction": "up"},
        {"ssl": 2},
        {"hostname_status": "waiting"},
        {"ssl_status": "done"},
        {"certificate_authority": "digicert"},
        {"wildcard": "maybe"},
    ],
)
def test_list_rejects_query_values_out_of_range(
    cloudflare_http: CloudflareHttp, params: dict[str, object]
) -> None:
    response = cloudflare_http.request("GET", params=params)

    assert (response.status_code, error_code(response)) == (400, 6008)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"hostname": "b.shop.test-customer.dev"}, ["b.shop.test-customer.dev"]),
        ({"hostname.exact": "B.SHOP.test-customer.dev"}, ["b.shop.test-customer.dev"]),
        ({"hostname.contain": "shop"}, ["a.shop.test-customer.dev", "b.shop.test-customer.dev"]),
        ({"hostname.startsWith": "a."}, ["a.shop.test-customer.dev"]),
        ({"hostname.exact": "missing.test-customer.dev"}, []),
    ],
)
def test_list_filters_by_hostname(
    cloudflare_http: CloudflareHttp, params: dict[str, str], expected: list[str]
) -> None:
    for name in ("a.shop.test-customer.dev", "b.shop.test-customer.dev", "blog.other-test.dev"):
        cloudflare_http.create(name)

    body = cloudflare_http.request("GET", params=params).json()

    assert [r["hostname"] for r in body["result"]] == expected
    assert body["result_info"]["total_count"] == len(expected)


def test_list_filters_by_id_and_refuses_id_with_other_filters(
    cloudflare_http: CloudflareHttp,
) -> None:
    wanted = cloudflare_http.create("a.test-customer.dev")
    cloudflare_http.create("b.test-customer.dev")

    by_id = cloudflare_http.request("GET", params={"id": wanted["id"]}).json()
    combined = cloudflare_http.request(
        "GET", params={"id": wanted["id"], "hostname": "a.test-customer.dev"}
    )
    with_status = cloudflare_http.request(
        "GET", params={"id": wanted["id"], "ssl_status": "active"}
    )
    malformed = cloudflare_http.request("GET", params={"id": "short"})

    assert [r["id"] for r in by_id["result"]] == [wanted["id"]]
    assert (combined.status_code, error_code(combined)) == (400, 1438)
    assert (with_status.status_code, error_code(with_status)) == (400, 1438)
    assert (malformed.status_code, error_code(malformed)) == (400, 1435)


@pytest.mark.parametrize(
    "params",
    [
        {"hostname.contain": "shop", "hostname.startsWith": "a"},
        {"hostname": "a.test-customer.dev", "hostname.exact": "a.test-customer.dev"},
        {"hostname.contain": "sh op"},
        {"hostname.contain": ""},
    ],
)
def test_hostname_filters_are_exclusive_and_contain_must_be_valid(
    cloudflare_http: CloudflareHttp, params: dict[str, str]
) -> None:
    response = cloudflare_http.request("GET", params=params)

    assert (response.status_code, error_code(response)) == (400, 1437)


def test_list_filters_by_status_ssl_status_ca_wildcard_and_origin(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_http.dns_record("o2.pcnaid.com", "app.saas-test.dev")
    cloudflare_http.create("live.test-customer.dev", custom_origin_server="o2.pcnaid.com")
    cloudflare_http.create(
        "waiting.test-customer.dev",
        ssl={"method": "txt", "type": "dv", "certificate_authority": "ssl_com", "wildcard": True},
    )
    cloudflare_sim.set_cname("live.test-customer.dev")

    def names(**params: str) -> list[str]:
        return [
            r["hostname"] for r in cloudflare_http.request("GET", params=params).json()["result"]
        ]

    assert names(hostname_status="active") == ["live.test-customer.dev"]
    assert names(hostname_status="pending") == ["waiting.test-customer.dev"]
    assert names(ssl_status="pending_validation") == ["waiting.test-customer.dev"]
    assert names(ssl="1") == ["live.test-customer.dev"]
    assert names(certificate_authority="ssl_com") == ["waiting.test-customer.dev"]
    assert names(certificate_authority="google") == ["live.test-customer.dev"]
    assert names(wildcard="true") == ["waiting.test-customer.dev"]
    assert names(custom_origin_server="o2.pcnaid.com") == ["live.test-customer.dev"]


def test_a_status_filtered_listing_shows_a_change_made_just_before_it(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    for n in range(3):
        cloudflare_http.create(f"shop{n}.test-customer.dev")

    def pending() -> list[str]:
        answer = cloudflare_http.request("GET", params={"ssl_status": "pending_validation"})
        return [r["hostname"] for r in answer.json()["result"]]

    assert len(pending()) == 3
    cloudflare_sim.set_cname("shop1.test-customer.dev")  # within the same half second

    assert pending() == ["shop0.test-customer.dev", "shop2.test-customer.dev"]


@pytest.mark.parametrize(("mode", "expected"), [("ignore", 200), ("refuse", 400)])
def test_a_cloudflare_older_than_the_status_filters_can_be_played(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, mode: str, expected: int
) -> None:
    cloudflare_http.create("live.test-customer.dev")
    cloudflare_http.create("waiting.test-customer.dev")
    cloudflare_sim.set_cname("live.test-customer.dev")
    cloudflare_sim.configure(status_filters=mode)

    answer = cloudflare_http.request("GET", params={"ssl_status": "active"})

    assert answer.status_code == expected
    if mode == "ignore":
        assert len(answer.json()["result"]) == 2  # as if no filter had been given
    else:
        assert error_code(answer) == 6008
    with pytest.raises(ValueError, match="status_filters"):
        cloudflare_sim.configure(status_filters="sometimes")


def test_list_orders_by_ssl_status_in_either_direction(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_http.create("first.test-customer.dev")
    cloudflare_http.create("second.test-customer.dev")
    cloudflare_sim.set_cname("second.test-customer.dev")

    def order(**params: str) -> list[str]:
        return [
            r["ssl"]["status"]
            for r in cloudflare_http.request("GET", params=params).json()["result"]
        ]

    assert order(order="ssl_status", direction="asc") == ["active", "pending_validation"]
    assert order(order="ssl_status", direction="desc") == ["pending_validation", "active"]
    assert order() == ["pending_validation", "active"]  # creation order by default


# -- fallback origin --------------------------------------------------------------------------


def test_fallback_origin_can_be_set_read_and_removed(cloudflare_http: CloudflareHttp) -> None:
    empty = cloudflare_http.request("GET", "/fallback_origin")
    put = cloudflare_http.request("PUT", "/fallback_origin", json={"origin": "fb.saas-test.dev"})
    got = cloudflare_http.request("GET", "/fallback_origin")
    deleted = cloudflare_http.request("DELETE", "/fallback_origin")
    after = cloudflare_http.request("GET", "/fallback_origin")

    assert empty.json()["result"] is None
    assert put.status_code == 200
    assert put.json()["result"]["origin"] == "fb.saas-test.dev"
    assert got.json()["result"]["status"] == "active"
    assert got.json()["result"]["errors"] == []
    assert deleted.json()["result"]["status"] == "pending_deletion"
    assert after.json()["result"] is None


def test_fallback_origin_deploys_after_the_deployment_delay(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    from sandbox.cloudflare import Delays, ManualClock

    clock = ManualClock()
    cloudflare_sim.configure(clock=clock, delays=Delays(deployment=60))

    put = cloudflare_http.request("PUT", "/fallback_origin", json={"origin": "fb.saas-test.dev"})
    clock.advance(60)
    got = cloudflare_http.request("GET", "/fallback_origin")

    assert put.json()["result"]["status"] == "pending_deployment"
    assert got.json()["result"]["status"] == "active"


def test_fallback_origin_must_be_a_valid_hostname(cloudflare_http: CloudflareHttp) -> None:
    response = cloudflare_http.request("PUT", "/fallback_origin", json={"origin": "bad host"})

    assert (response.status_code, error_code(response)) == (400, 1407)


# -- rate limit headers -----------------------------------------------------------------------


def test_every_answer_carries_rate_limit_headers_that_count_down(
    cloudflare_http: CloudflareHttp,
) -> None:
    first = cloudflare_http.request("GET")
    second = cloudflare_http.request("GET", "/not-a-uuid")

    assert first.headers["Ratelimit-Policy"] == '"burst";q=1200;w=300'
    assert re.fullmatch(r'"default";r=1199;t=\d+', first.headers["Ratelimit"])
    assert re.fullmatch(r'"default";r=1198;t=\d+', second.headers["Ratelimit"])
    assert second.headers["X-RateLimit-Remaining"] == "1198"


def test_an_enforced_rate_limit_answers_429_971_until_the_window_moves_on(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    from sandbox.cloudflare import ManualClock

    clock = ManualClock()
    cloudflare_sim.configure(clock=clock, enforce_rate_limit=True, rate_limit=3, rate_window=300)
    for _ in range(3):
        assert cloudflare_http.request("GET").status_code == 200
    clock.advance(100)

    throttled = cloudflare_http.request("GET")
    clock.advance(200)
    later = cloudflare_http.request("GET")

    assert (throttled.status_code, error_code(throttled)) == (429, 971)
    assert throttled.headers["Retry-After"] == "200"
    assert throttled.headers["Ratelimit"] == '"default";r=0;t=200'
    assert later.status_code == 200


# -- the control page, persistence, the command, the schema check -----------------------------


def test_the_control_page_lists_hostnames_and_its_buttons_play_the_customer(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_http.create(HOST)
    page_url = cloudflare_sim.base_url.removesuffix("/client/v4") + "/sandbox/"

    page = requests.get(page_url, timeout=10)
    clicked = requests.post(
        page_url + "action",
        data={"hostname": HOST, "action": "cname"},
        allow_redirects=False,
        timeout=10,
    )
    after = requests.get(page_url, timeout=10)
    blocked = requests.post(
        page_url + "action", data={"hostname": HOST, "action": "block"}, timeout=10
    )

    assert page.status_code == 200
    assert HOST in page.text
    assert "pending_validation" in page.text
    assert "The customer added the CNAME" in page.text
    assert "Remove the CNAME" in page.text
    assert (clicked.status_code, clicked.headers["Location"]) == (302, "/sandbox/")
    assert after.text.count(">active<") == 2
    assert blocked.status_code == 200
    assert cloudflare_sim.hostnames()[0]["status"] == "blocked"


def test_with_the_dns_simulator_beside_it_the_cname_buttons_edit_the_customers_dns(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, dns_sandbox: DnsSandbox
) -> None:
    cloudflare_http.create(HOST)
    page_url = cloudflare_sim.base_url.removesuffix("/client/v4") + "/sandbox/"
    cloudflare_sim.customer_dns = dns_sandbox
    verdicts = {}
    try:
        for action in ("cname", "wrongcname", "uncname"):
            requests.post(
                page_url + "action", data={"hostname": HOST, "action": action}, timeout=10
            )
            verdicts[action] = check_cname(HOST, cloudflare_sim.cname_target).verdict
            if action == "cname":
                page = requests.get(page_url, timeout=10).text
                status = cloudflare_sim.hostname(HOST)["status"]
    finally:
        cloudflare_sim.customer_dns = None

    # What Cloudflare saw and what the app's own DNS check sees agree.
    assert status == "active"
    assert verdicts == {
        "cname": Verdict.POINTS_TO_US,
        "wrongcname": Verdict.POINTS_ELSEWHERE,
        "uncname": Verdict.MISSING,
    }
    assert "The customer&#x27;s CNAME points elsewhere" in page
    assert f"<td>{HOST}</td><td>CNAME</td>" in page


def test_the_control_page_says_404_for_an_unknown_hostname(
    cloudflare_sim: CloudflareSandbox,
) -> None:
    page_url = cloudflare_sim.base_url.removesuffix("/client/v4") + "/sandbox/action"

    response = requests.post(
        page_url, data={"hostname": "nope.test-customer.dev", "action": "move"}, timeout=10
    )

    assert response.status_code == 404


def test_a_state_file_keeps_hostnames_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state" / "cloudflare.json"
    first = CloudflareSandbox(
        zone_id="a" * 32, token="t", cname_target="dcv.saas-test.dev", state_file=state
    )
    first.handle(_post(first, {"hostname": HOST}))
    first.set_cname(HOST)
    first.handle(_put(first, {"origin": "fb.saas-test.dev"}))
    before = first.hostnames()

    second = CloudflareSandbox(
        zone_id="a" * 32, token="t", cname_target="dcv.saas-test.dev", state_file=state
    )

    assert second.hostnames() == before
    assert before[0]["status"] == "active"
    assert json.loads(state.read_text())["cname_overrides"] == {HOST: True}
    assert [p.name for p in state.parent.iterdir()] == ["cloudflare.json"]  # no temp files left
    fallback = second.handle(
        Request(
            "GET",
            f"/client/v4/zones/{'a' * 32}/custom_hostnames/fallback_origin",
            {},
            {"authorization": "Bearer t"},
            b"",
        )
    )
    assert json.loads(fallback.body)["result"]["origin"] == "fb.saas-test.dev"


def _post(sim: CloudflareSandbox, body: dict[str, object]) -> Request:
    return Request(
        "POST",
        f"/client/v4/zones/{sim.zone_id}/custom_hostnames",
        {},
        {"authorization": f"Bearer {sim.token}"},
        json.dumps(body).encode(),
    )


def _put(sim: CloudflareSandbox, body: dict[str, object]) -> Request:
    request = _post(sim, body)
    request.method, request.path = "PUT", request.path + "/fallback_origin"
    return request


def test_app_from_settings_reads_the_zone_token_target_and_state_dir(
    settings: object, tmp_path: Path
) -> None:
    settings.CLOUDFLARE_ZONE_ID = "b" * 32  # type: ignore[attr-defined]
    settings.CLOUDFLARE_API_TOKEN = "from-settings"  # type: ignore[attr-defined]
    settings.DCV_CNAME_TARGET = "customers.saas-test.dev"  # type: ignore[attr-defined]

    sim = app_from_settings(tmp_path)

    assert (sim.zone_id, sim.token, sim.cname_target) == (
        "b" * 32,
        "from-settings",
        "customers.saas-test.dev",
    )
    assert sim.state_file == tmp_path / "cloudflare.json"
    assert sim.delays.records > 0  # make run shows the initializing step


def test_the_command_serves_the_api_in_the_foreground(tmp_path: Path) -> None:
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    process = subprocess.Popen(
        [
            sys.executable,
            str(manage),
            "sandbox_cloudflare",
            "--port",
            "0",
            "--zone-id",
            "c" * 32,
            "--token",
            "cmd-token",
            "--state-file",
            str(tmp_path / "cf.json"),
            "--dns-resolver",
            "",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "dcvaas.test_settings"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.strip().rsplit(" ", 1)[-1]
        deadline = time.monotonic() + 10
        response = None
        while time.monotonic() < deadline:
            try:
                response = requests.post(
                    f"{base_url}/zones/{'c' * 32}/custom_hostnames",
                    json={"hostname": HOST},
                    headers={"Authorization": "Bearer cmd-token"},
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/client/v4")
    assert response is not None
    assert response.status_code == 201
    assert json.loads((tmp_path / "cf.json").read_text())["hostnames"][0]["hostname"] == HOST


def test_the_schema_check_flags_an_answer_that_breaks_the_schema() -> None:
    request = Request(
        "GET", "/client/v4/zones/" + "a" * 32 + "/custom_hostnames/quota", {}, {}, b""
    )
    good = Response.json(
        {
            "success": True,
            "errors": [],
            "messages": [],
            "result": {"allocated": 1, "used": 0, "exceeded": False, "hard_cap": 5},
        }
    )
    bad = Response.json({"success": True, "errors": [], "messages": [], "result": {"used": "none"}})
    bad_error = Response.json({"success": False, "errors": [{"code": 12}]}, status=503)

    assert schema_problem(request, good) is None
    assert schema_problem(request, bad) is not None
    assert schema_problem(request, bad_error) is not None
