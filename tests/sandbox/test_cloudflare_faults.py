"""Faults on purpose: throttling, server errors, slow and dropped answers, and request records."""

from __future__ import annotations

import json
import threading
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from sandbox.cloudflare import CloudflareSandbox
from sandbox.server import Request, Response
from tests.fixtures.cloudflare import CloudflareHttp


def test_a_429_fault_answers_971_with_retry_after_and_both_rate_limit_header_families(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_sim.inject_fault("429", retry_after=7)

    response = cloudflare_http.request("GET")

    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == 971
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Ratelimit"] == '"default";r=0;t=7'
    assert response.headers["Ratelimit-Policy"] == '"burst";q=1200;w=300'
    assert response.headers["X-RateLimit-Limit"] == "1200"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert parsedate_to_datetime(response.headers["X-RateLimit-Reset"]).tzinfo is not None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_fault_answers_the_1500_envelope(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, status: int
) -> None:
    cloudflare_sim.inject_fault(str(status))

    response = cloudflare_http.request("POST", json={"hostname": "shop.test-customer.dev"})

    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == 1500
    assert cloudflare_sim.hostnames() == []  # the create never happened


def test_a_slow_fault_waits_then_answers_normally(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_sim.inject_fault("slow", delay=0.3, count=1)

    started = time.monotonic()
    slow = cloudflare_http.request("GET")
    elapsed = time.monotonic() - started
    fast = cloudflare_http.request("GET")

    assert slow.status_code == 200
    assert fast.status_code == 200
    assert elapsed >= 0.3
    assert [r.fault for r in cloudflare_sim.requests] == ["slow", ""]  # once, as asked


def test_a_slow_fault_trips_a_client_timeout(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_sim.inject_fault("slow", delay=0.5, count=1)

    with pytest.raises(requests.Timeout):
        cloudflare_http.request("GET", timeout=0.1)


def test_a_drop_fault_closes_the_connection_without_an_answer(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_sim.inject_fault("drop", count=1)

    with pytest.raises(requests.ConnectionError):
        cloudflare_http.request("GET")
    assert cloudflare_http.request("GET").status_code == 200
    assert [r.status for r in cloudflare_sim.requests] == [0, 200]


def test_faults_match_only_their_method_and_path_and_run_out_after_count(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_sim.inject_fault("503", count=2, method="POST")
    cloudflare_sim.inject_fault("500", path_contains="/quota")

    statuses = [
        cloudflare_http.request("GET").status_code,
        cloudflare_http.request("POST", json={"hostname": "a.test-customer.dev"}).status_code,
        cloudflare_http.request("POST", json={"hostname": "a.test-customer.dev"}).status_code,
        cloudflare_http.request("POST", json={"hostname": "a.test-customer.dev"}).status_code,
        cloudflare_http.request("GET", "/quota").status_code,
    ]
    cloudflare_sim.clear_faults()

    assert statuses == [200, 503, 503, 201, 500]
    assert cloudflare_http.request("GET", "/quota").status_code == 200


def test_a_fault_rate_gives_the_same_sequence_for_the_same_seed(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    def run() -> list[int]:
        cloudflare_sim.reset()
        cloudflare_sim.inject_fault("502", rate=0.5)
        return [cloudflare_http.request("GET").status_code for _ in range(12)]

    cloudflare_sim.seed(1234)
    first = run()
    second = run()
    cloudflare_sim.seed(99)
    third = run()

    assert first == second
    assert first != third
    assert 0 < first.count(502) < 12


def test_requests_are_recorded_with_method_path_query_and_status(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_http.request("POST", json={"hostname": "a.test-customer.dev"})
    cloudflare_http.request("GET", params={"hostname.exact": "a.test-customer.dev"})
    cloudflare_http.request("GET", "/nope")

    recorded = cloudflare_sim.requests

    base = f"/client/v4/zones/{cloudflare_sim.zone_id}/custom_hostnames"
    assert [(r.method, r.path, r.status) for r in recorded] == [
        ("POST", base, 201),
        ("GET", base, 200),
        ("GET", base + "/nope", 400),
    ]
    assert recorded[1].query == {"hostname.exact": ["a.test-customer.dev"]}


def test_reset_clears_hostnames_faults_and_recorded_requests(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_http.create("a.test-customer.dev")
    cloudflare_sim.inject_fault("500")

    cloudflare_sim.reset()

    assert cloudflare_sim.requests == []
    assert cloudflare_sim.hostnames() == []
    assert cloudflare_http.request("GET").status_code == 200


def test_an_unknown_fault_kind_is_refused(cloudflare_sim: CloudflareSandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        cloudflare_sim.inject_fault("418")


def test_a_slow_answer_still_pending_at_a_reset_is_dropped_not_applied_to_the_fresh_state(
    cloudflare_sim: CloudflareSandbox,
) -> None:
    cloudflare_sim.inject_fault("slow", method="POST", delay=0.3)
    request = Request(
        method="POST",
        path=f"{cloudflare_sim.prefix}/zones/{cloudflare_sim.zone_id}/custom_hostnames",
        query={},
        headers={"authorization": f"Bearer {cloudflare_sim.token}"},
        body=json.dumps({"hostname": "late.test-customer.dev"}).encode(),
    )
    answers: list[Response] = []
    seen: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(cloudflare_sim.handle(request)))

    slow.start()
    # Recorded, with the state it belongs to, before it sleeps: then the next test begins.
    deadline = time.monotonic() + 10
    while not cloudflare_sim.requests:
        assert time.monotonic() < deadline, "the request never reached the simulator"
        time.sleep(0.005)
    cloudflare_sim.reset()
    cloudflare_sim.observers.append(lambda req, resp: seen.append(req.path))
    slow.join()

    assert answers[0].drop
    assert cloudflare_sim.hostnames() == []
    assert seen == []
