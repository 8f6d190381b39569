"""The Cloudflare client against the Cloudflare simulator, over real loopback HTTP.

Payload shapes the simulator never produces (statuses Cloudflare may add, null fields, the
deprecated flattened `ssl.txt_name`, an enveloped DELETE, the other rate-limit header families)
come from `CannedCloudflare`: a tiny server on loopback that answers what a test tells it to,
so the client is still exercised end to end through `requests`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from domains.cloudflare import (
    INVALID_HOSTNAME_MESSAGES,
    CloudflareAuthError,
    CloudflareClient,
    CloudflareInvalidHostnameError,
    CloudflareNotFoundError,
    CloudflarePermanentError,
    CloudflareQuotaError,
    CloudflareRateLimitedError,
    CloudflareTransientError,
    HostnameStatus,
    SSLStatus,
    cname_target,
)
from domains.rate_budget import RateBudget
from sandbox.cloudflare import CloudflareSandbox, Delays, ManualClock
from sandbox.server import Request, Response, SandboxApp, SandboxServer

pytestmark = pytest.mark.django_db

CUSTOMER = "test-customer.dev"


class FakeClock:
    """Wall-clock time that only moves when slept on, so waits are instant and recorded."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def budget(clock: FakeClock) -> RateBudget:
    return RateBudget(f"test-{uuid.uuid4().hex[:12]}", clock=clock.time, sleep=clock.sleep)


@pytest.fixture
def client(
    cloudflare_sim: CloudflareSandbox, budget: RateBudget, clock: FakeClock
) -> CloudflareClient:
    return CloudflareClient(budget=budget, sleep=clock.sleep, clock=clock.time)


def api_calls(sim: CloudflareSandbox, method: str | None = None) -> list[Any]:
    return [r for r in sim.requests if method is None or r.method == method]


def bodies(sim: CloudflareSandbox) -> list[tuple[str, Any]]:
    """Records the JSON body of every request the simulator gets from now on."""
    seen: list[tuple[str, Any]] = []
    sim.observers.append(lambda request, response: seen.append((request.method, request.json())))
    return seen


# ---------------------------------------------------------------------------------------------
# create / get / refresh / delete
# ---------------------------------------------------------------------------------------------
def test_create_sends_the_minimal_body_and_returns_a_pending_hostname(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    sent = bodies(cloudflare_sim)

    created = client.create(f"Shop.{CUSTOMER}.")

    assert sent == [
        (
            "POST",
            {
                "hostname": f"shop.{CUSTOMER}",
                "ssl": {"method": "http", "type": "dv", "settings": {"min_tls_version": "1.2"}},
            },
        )
    ]
    assert created.hostname == f"shop.{CUSTOMER}"
    assert len(created.id) == 36
    assert created.status == HostnameStatus.PENDING
    assert created.ssl_method == "http"
    assert created.verification_errors == ("custom hostname does not CNAME to this zone.",)
    assert created.created_at is not None
    assert created.created_at.tzinfo is not None
    assert not created.is_active


def test_create_can_use_txt_validation(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"txt.{CUSTOMER}", method="txt")

    assert created.ssl_method == "txt"
    assert [r.name for r in created.validation_txt] == [f"_acme-challenge.txt.{CUSTOMER}"]
    assert created.validation_http == ()


def test_create_refuses_a_validation_method_we_do_not_support(client: CloudflareClient) -> None:
    with pytest.raises(ValueError, match="email"):
        client.create(f"mail.{CUSTOMER}", method="email")


def test_a_duplicate_create_is_sent_exactly_once_then_the_existing_hostname_is_adopted(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, cloudflare_http: Any
) -> None:
    existing = cloudflare_http.create(f"again.{CUSTOMER}", ssl={"method": "http", "type": "dv"})
    before = len(cloudflare_sim.requests)

    adopted = client.create(f"again.{CUSTOMER}")

    assert adopted.id == existing["id"]
    calls = cloudflare_sim.requests[before:]
    assert [(c.method, c.status) for c in calls] == [("POST", 409), ("GET", 200)]
    assert calls[1].query["hostname"] == [f"again.{CUSTOMER}"]
    assert len(cloudflare_sim.hostnames()) == 1


def test_records_that_come_after_the_create_answer_are_there_on_get(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    sim_clock = ManualClock(datetime.now(UTC))
    cloudflare_sim.configure(delays=Delays(records=30.0), clock=sim_clock)

    created = client.create(f"slow.{CUSTOMER}")
    sim_clock.advance(31)
    fetched = client.get(created.id)

    assert created.ssl_status == SSLStatus.INITIALIZING
    assert not created.has_validation_records
    assert created.ownership_txt is None
    assert fetched.ssl_status == SSLStatus.PENDING_VALIDATION
    assert fetched.has_validation_records
    assert [r.name for r in fetched.validation_txt] == [f"_acme-challenge.slow.{CUSTOMER}"]
    assert fetched.validation_http[0].url.startswith(f"http://slow.{CUSTOMER}/.well-known/")
    assert fetched.validation_http[0].body
    assert fetched.ownership_txt is not None
    assert fetched.ownership_txt.name == f"_cf-custom-hostname.slow.{CUSTOMER}"
    assert fetched.ownership_http is not None
    assert fetched.ownership_http.body


def test_an_active_hostname_reports_its_certificate(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"live.{CUSTOMER}")
    cloudflare_sim.set_cname(f"live.{CUSTOMER}")

    fetched = client.get(created.id)

    assert fetched.is_active
    assert fetched.verification_errors == ()
    assert fetched.certificate_issuer == "GoogleTrustServices"
    assert fetched.certificate_expires_at is not None
    assert fetched.certificate_expires_at > datetime.now(UTC) + timedelta(days=80)


def test_validation_errors_are_passed_on(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"caa.{CUSTOMER}")

    fetched = client.get(created.id)

    assert fetched.validation_errors == (f"caa_error: caa.{CUSTOMER}",)


def test_uncommon_statuses_are_kept_as_cloudflare_sent_them(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"odd.{CUSTOMER}")
    cloudflare_sim.set_state(
        f"odd.{CUSTOMER}", status="pending_migration", ssl_status="backup_issued"
    )

    fetched = client.get(created.id)

    assert fetched.status == "pending_migration" == HostnameStatus.PENDING_MIGRATION
    assert fetched.ssl_status == "backup_issued"


def test_refresh_repeats_the_method_and_restarts_validation(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"timeout.{CUSTOMER}", method="txt")
    assert client.get(created.id).ssl_status == SSLStatus.VALIDATION_TIMED_OUT
    sent = bodies(cloudflare_sim)

    refreshed = client.refresh(created.id)

    assert sent == [("GET", None), ("PATCH", {"ssl": {"method": "txt", "type": "dv"}})]
    assert refreshed.ssl_status == SSLStatus.PENDING_VALIDATION
    assert api_calls(cloudflare_sim, "PATCH")[0].status == 202


def test_refresh_with_a_known_method_makes_a_single_call(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"known.{CUSTOMER}")
    before = client.calls

    client.refresh(created.id, method="http")

    assert client.calls == before + 1


def test_delete_removes_the_hostname(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"gone.{CUSTOMER}")

    assert client.delete(created.id) is True

    assert cloudflare_sim.hostnames() == []


def test_deleting_a_hostname_that_is_already_gone_is_not_an_error(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"twice.{CUSTOMER}")
    cloudflare_sim.remove(f"twice.{CUSTOMER}")

    assert client.delete(created.id) is False
    assert client.delete(str(uuid.uuid4())) is False
    assert [c.status for c in api_calls(cloudflare_sim, "DELETE")] == [404, 404]


def test_find_by_hostname_returns_the_match_or_none(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    created = client.create(f"find.{CUSTOMER}")

    assert client.find_by_hostname(f"FIND.{CUSTOMER}") == client.get(created.id)
    assert client.find_by_hostname(f"nowhere.{CUSTOMER}") is None


# ---------------------------------------------------------------------------------------------
# list and pagination
# ---------------------------------------------------------------------------------------------
def make_hostnames(http: Any, count: int, prefix: str = "h") -> list[str]:
    names = [f"{prefix}{n:03d}.{CUSTOMER}" for n in range(count)]
    for name in names:
        http.create(name, ssl={"method": "http", "type": "dv"})
    return names


@pytest.mark.parametrize(
    ("count", "per_page", "pages"),
    [
        (12, 5, [1, 2, 3]),  # the third page is short: no fourth request
        (10, 5, [1, 2]),  # page 2 is full but total_pages says it is the last
        (55, 50, [1, 2]),
        (5, 5, [1]),
        (0, 50, [1]),
    ],
)
def test_list_walks_every_page_and_stops_as_soon_as_it_can(
    client: CloudflareClient,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: Any,
    count: int,
    per_page: int,
    pages: list[int],
) -> None:
    names = make_hostnames(cloudflare_http, count)
    before = len(cloudflare_sim.requests)

    listed = client.list(per_page=per_page)

    assert sorted(h.hostname for h in listed) == names
    calls = cloudflare_sim.requests[before:]
    assert [int(c.query["page"][0]) for c in calls] == pages
    assert {c.query["per_page"][0] for c in calls} == {str(per_page)}


def test_iter_pages_yields_each_page_for_the_sync_loop(
    client: CloudflareClient, cloudflare_http: Any
) -> None:
    make_hostnames(cloudflare_http, 7)

    pages = list(client.iter_pages(per_page=5))

    assert [(p.page, len(p.items), p.total_count, p.total_pages) for p in pages] == [
        (1, 5, 7, 2),
        (2, 2, 7, 2),
    ]


def test_iter_pages_can_start_part_way_for_a_listing_resumed_by_the_sync_loop(
    client: CloudflareClient, cloudflare_http: Any
) -> None:
    make_hostnames(cloudflare_http, 12)

    pages = list(client.iter_pages(per_page=5, first_page=2))
    beyond = list(client.iter_pages(per_page=5, first_page=9))

    assert [(p.page, len(p.items)) for p in pages] == [(2, 5), (3, 2)]
    assert beyond == []  # the zone shrank below the page to resume at: nothing, no error
    with pytest.raises(ValueError, match="first_page"):
        list(client.iter_pages(first_page=0))


def test_list_filters_by_hostname_and_statuses(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, cloudflare_http: Any
) -> None:
    make_hostnames(cloudflare_http, 3)
    cloudflare_sim.set_cname(f"h001.{CUSTOMER}")

    active = client.list(hostname_status=HostnameStatus.ACTIVE)
    issued = client.list(ssl_status="active")
    pending = client.list(hostname_status="pending")
    one = client.list(hostname=f"h002.{CUSTOMER}")

    assert [h.hostname for h in active] == [f"h001.{CUSTOMER}"]
    assert [h.hostname for h in issued] == [f"h001.{CUSTOMER}"]
    assert sorted(h.hostname for h in pending) == [f"h000.{CUSTOMER}", f"h002.{CUSTOMER}"]
    assert [h.hostname for h in one] == [f"h002.{CUSTOMER}"]
    queries = [c.query for c in cloudflare_sim.requests if c.method == "GET"][-4:]
    assert queries[0]["hostname_status"] == ["active"]
    assert queries[1]["ssl_status"] == ["active"]


def test_per_page_outside_cloudflares_bounds_is_refused_before_any_call(
    client: CloudflareClient,
) -> None:
    with pytest.raises(ValueError, match="per_page"):
        client.list(per_page=100)
    assert client.calls == 0


# ---------------------------------------------------------------------------------------------
# fallback origin and quota
# ---------------------------------------------------------------------------------------------
def test_fallback_origin_can_be_read_and_set(client: CloudflareClient) -> None:
    assert client.get_fallback_origin() is None

    set_to = client.set_fallback_origin("fallback.saas-zone.dev")
    read = client.get_fallback_origin()

    assert set_to.origin == "fallback.saas-zone.dev"
    assert read is not None
    assert (read.origin, read.status, read.errors) == ("fallback.saas-zone.dev", "active", ())
    assert read.created_at is not None


def test_quota_reports_usage_against_the_allocation(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, cloudflare_http: Any
) -> None:
    cloudflare_sim.configure(allocated=2, hard_cap=10)
    make_hostnames(cloudflare_http, 3)

    quota = client.get_quota()

    assert (quota.used, quota.allocated, quota.hard_cap, quota.exceeded) == (3, 2, 10, True)


# ---------------------------------------------------------------------------------------------
# errors, by Cloudflare's code
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hostname", "code"),
    [
        (f"under_score.{CUSTOMER}", 1407),
        (f"bücher.{CUSTOMER}", 1408),
        ("shop.acme.test", 1409),
        ("localhost-only", 1410),
        ("shop.example.com", 1411),
        (f"*.{CUSTOMER}", 1448),
    ],
)
def test_a_rejected_hostname_carries_a_message_a_person_can_act_on(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, hostname: str, code: int
) -> None:
    with pytest.raises(CloudflareInvalidHostnameError) as rejected:
        client.create(hostname)

    assert rejected.value.codes == (code,)
    assert rejected.value.status == 400
    assert rejected.value.user_message == INVALID_HOSTNAME_MESSAGES[code]
    assert rejected.value.message  # Cloudflare's own words are kept too
    assert len(api_calls(cloudflare_sim)) == 1  # never retried


def test_quota_exceeded_is_a_quota_error(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    cloudflare_sim.configure(hard_cap=1)
    client.create(f"first.{CUSTOMER}")

    with pytest.raises(CloudflareQuotaError) as refused:
        client.create(f"second.{CUSTOMER}")

    assert (refused.value.status, refused.value.codes) == (403, (1405,))


def test_an_invalid_token_is_an_auth_error(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_API_TOKEN = "not-the-token"

    with pytest.raises(CloudflareAuthError) as refused:
        client.list()

    assert (refused.value.status, refused.value.codes) == (403, (9109,))
    assert refused.value.message == "Invalid access token"
    assert len(api_calls(cloudflare_sim)) == 1


def test_a_zone_the_token_cannot_use_is_an_auth_error(
    client: CloudflareClient, settings: Any
) -> None:
    settings.CLOUDFLARE_ZONE_ID = "f" * 32

    with pytest.raises(CloudflareAuthError) as refused:
        client.get_quota()

    assert refused.value.codes == (10000,)


def test_an_unroutable_zone_is_a_permanent_error(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    cloudflare_sim.configure(unknown_zone_code=7003)
    settings.CLOUDFLARE_ZONE_ID = "f" * 32

    with pytest.raises(CloudflarePermanentError) as refused:
        client.get_fallback_origin()

    assert refused.value.codes == (7003,)
    assert not isinstance(refused.value, CloudflareTransientError)


def test_an_unknown_hostname_is_not_found_and_a_malformed_id_is_permanent(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    with pytest.raises(CloudflareNotFoundError) as missing:
        client.get(str(uuid.uuid4()))
    with pytest.raises(CloudflarePermanentError) as malformed:
        client.get("not-a-uuid")

    assert (missing.value.status, missing.value.codes) == (404, (1436,))
    assert malformed.value.codes == (1435,)
    assert len(api_calls(cloudflare_sim)) == 2


@pytest.mark.parametrize("kind", ["500", "502", "503", "drop"])
def test_transient_failures_are_retried_up_to_the_cap_then_raised(
    client: CloudflareClient,
    cloudflare_sim: CloudflareSandbox,
    clock: FakeClock,
    settings: Any,
    kind: str,
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 3
    cloudflare_sim.inject_fault(kind)

    with pytest.raises(CloudflareTransientError) as failed:
        client.get_quota()

    assert len(api_calls(cloudflare_sim)) == 4
    assert client.calls == 4
    assert len(clock.sleeps) == 3
    # Exponential with jitter: each wait within [step/2, step] for steps 0.5, 1, 2.
    for wait, step in zip(clock.sleeps, [0.5, 1.0, 2.0], strict=True):
        assert step / 2 <= wait <= step
    if kind != "drop":
        assert failed.value.status == int(kind)
        assert failed.value.codes == (1500,)


def test_a_timeout_is_retried_then_raised_as_transient(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 1
    settings.CLOUDFLARE_READ_TIMEOUT = 0.2
    cloudflare_sim.inject_fault("slow", delay=1.0)

    # Both attempts were cut short by the read timeout (the error says so), not answered late.
    with pytest.raises(CloudflareTransientError, match="ReadTimeout"):
        client.get_quota()

    assert len(api_calls(cloudflare_sim)) == 2


def test_a_transient_failure_followed_by_success_returns_the_result(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    cloudflare_sim.inject_fault("503", count=2, method="POST")

    created = client.create(f"flaky.{CUSTOMER}")

    assert created.hostname == f"flaky.{CUSTOMER}"
    assert [c.status for c in api_calls(cloudflare_sim, "POST")] == [503, 503, 201]
    assert len(cloudflare_sim.hostnames()) == 1


def test_a_create_whose_answer_was_lost_is_adopted_on_retry(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, cloudflare_http: Any
) -> None:
    # The first POST reached Cloudflare but its answer never came back (here: the hostname is
    # created out of band and the connection dropped); the retry gets 1406 and adopts it.
    cloudflare_http.create(f"lost.{CUSTOMER}", ssl={"method": "http", "type": "dv"})
    cloudflare_sim.inject_fault("drop", count=1, method="POST")

    adopted = client.create(f"lost.{CUSTOMER}")

    assert adopted.hostname == f"lost.{CUSTOMER}"
    assert len(cloudflare_sim.hostnames()) == 1


def test_a_429_waits_as_long_as_retry_after_says_then_retries(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, clock: FakeClock
) -> None:
    cloudflare_sim.inject_fault("429", count=1, retry_after=7)

    client.get_quota()

    assert clock.sleeps == [7.0]
    assert [c.status for c in api_calls(cloudflare_sim)] == [429, 200]


def test_a_long_429_pauses_every_caller_of_the_budget_and_raises_at_once(
    client: CloudflareClient,
    cloudflare_sim: CloudflareSandbox,
    budget: RateBudget,
    clock: FakeClock,
) -> None:
    cloudflare_sim.inject_fault("429", count=1, retry_after=120)

    with pytest.raises(CloudflareRateLimitedError) as limited:
        client.get_quota()

    assert limited.value.retry_after == 120
    assert limited.value.codes == (971,)
    assert clock.sleeps == []
    paused = budget.paused_until()
    assert paused is not None
    assert paused.timestamp() == pytest.approx(clock.now + 120)
    # Another client (another process, say) sharing the budget does not even try.
    other = CloudflareClient(budget=budget, sleep=clock.sleep, clock=clock.time)
    with pytest.raises(CloudflareRateLimitedError):
        other.get_quota()
    assert len(api_calls(cloudflare_sim)) == 1


def test_four_hundreds_other_than_429_are_never_retried(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, clock: FakeClock
) -> None:
    created = client.create(f"retry.{CUSTOMER}")

    with pytest.raises(CloudflareNotFoundError):
        client.refresh(str(uuid.uuid4()), method="http")
    with pytest.raises(CloudflarePermanentError) as refused:
        client.refresh(created.id, method="carrier-pigeon")

    assert refused.value.codes == (1432,)
    assert [c.status for c in api_calls(cloudflare_sim, "PATCH")] == [404, 400]
    assert clock.sleeps == []


# ---------------------------------------------------------------------------------------------
# budget, settings, logging
# ---------------------------------------------------------------------------------------------
def test_every_call_spends_from_the_shared_budget(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, budget: RateBudget
) -> None:
    cloudflare_sim.inject_fault("500", count=1)

    client.get_quota()
    client.list()

    assert budget.usage().used == 3 == client.calls


def test_a_spent_bulk_budget_stops_bulk_calls_but_not_people(
    client: CloudflareClient,
    cloudflare_sim: CloudflareSandbox,
    budget: RateBudget,
    settings: Any,
) -> None:
    settings.CLOUDFLARE_RATE_LIMIT = 3
    settings.CLOUDFLARE_RATE_RESERVED = 1
    client.max_wait = 0
    client.list(priority="bulk")
    client.list(priority="bulk")

    with pytest.raises(CloudflareRateLimitedError) as limited:
        client.list(priority="bulk")
    client.get_quota(priority="user")

    assert limited.value.status is None  # our own budget, not Cloudflare, said no
    assert limited.value.retry_after is not None
    assert len(api_calls(cloudflare_sim)) == 3


@pytest.mark.parametrize(
    "name", ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ZONE_ID", "CLOUDFLARE_API_BASE"]
)
def test_a_missing_setting_raises_improperly_configured_naming_it(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox, settings: Any, name: str
) -> None:
    setattr(settings, name, "")

    with pytest.raises(ImproperlyConfigured, match=name):
        client.get_quota()

    assert cloudflare_sim.requests == []


def test_a_missing_cname_target_raises_improperly_configured_naming_it(settings: Any) -> None:
    settings.DCV_CNAME_TARGET = ""

    with pytest.raises(ImproperlyConfigured, match="DCV_CNAME_TARGET"):
        cname_target()


def test_importing_and_constructing_the_client_needs_no_secrets(settings: Any) -> None:
    settings.CLOUDFLARE_API_TOKEN = ""
    settings.CLOUDFLARE_ZONE_ID = ""

    assert CloudflareClient().calls == 0


def test_each_call_logs_one_line_without_the_token(
    client: CloudflareClient,
    cloudflare_sim: CloudflareSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloudflare_sim.inject_fault("502", count=1)

    with caplog.at_level(logging.INFO, logger="domains.cloudflare"):
        client.get_quota()

    lines = [r.getMessage() for r in caplog.records if r.name == "domains.cloudflare"]
    assert len(lines) == 2
    assert lines[0].startswith("cloudflare GET /custom_hostnames/quota -> 502 attempt=1 elapsed=")
    assert lines[1].startswith("cloudflare GET /custom_hostnames/quota -> 200 attempt=2 elapsed=")
    assert all(cloudflare_sim.token not in line for line in caplog.text.splitlines())


# ---------------------------------------------------------------------------------------------
# payloads the simulator does not produce
# ---------------------------------------------------------------------------------------------
class CannedCloudflare(SandboxApp):
    """Answers each (method, path suffix) with the queued responses, the last one repeating."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Response]] = {}
        self.seen: list[Request] = []

    def answer(
        self,
        method: str,
        suffix: str,
        body: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.answers.setdefault((method, suffix), []).append(
            Response.json(body, status=status, headers=headers)
        )

    def handle(self, request: Request) -> Response:
        self.seen.append(request)
        for (method, suffix), queue in self.answers.items():
            if method == request.method and request.path.endswith(suffix):
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return Response.json(
            {"success": False, "errors": [{"code": 7000, "message": "No route"}]}, 404
        )


@pytest.fixture(scope="module")
def canned_server() -> Iterator[tuple[CannedCloudflare, str]]:
    app = CannedCloudflare()
    server = SandboxServer(app).start()
    yield app, server.url
    server.stop()


@pytest.fixture
def canned(canned_server: tuple[CannedCloudflare, str], settings: Any) -> CannedCloudflare:
    app, url = canned_server
    app.answers.clear()
    app.seen.clear()
    settings.CLOUDFLARE_API_BASE = f"{url}/client/v4"
    settings.CLOUDFLARE_API_TOKEN = "canned-token"
    settings.CLOUDFLARE_ZONE_ID = "c" * 32
    return app


@pytest.fixture
def canned_client(
    canned: CannedCloudflare, budget: RateBudget, clock: FakeClock
) -> CloudflareClient:
    return CloudflareClient(budget=budget, sleep=clock.sleep, clock=clock.time)


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


HOSTNAME_ID = "0d89c70d-ad9f-4843-b99f-6cc0252067e9"


def test_unknown_statuses_and_missing_fields_never_break_the_parser(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer(
        "GET",
        f"/custom_hostnames/{HOSTNAME_ID}",
        envelope(
            {
                "id": HOSTNAME_ID,
                "hostname": f"new.{CUSTOMER}",
                "status": "pending_quantum_review",
                "verification_errors": None,
                "ownership_verification": None,
                "ssl": {"status": "awaiting_the_heat_death", "validation_records": None},
                "created_at": "not a date",
            }
        ),
    )

    parsed = canned_client.get(HOSTNAME_ID)

    assert parsed.status == "pending_quantum_review"
    assert parsed.ssl_status == "awaiting_the_heat_death"
    assert parsed.verification_errors == ()
    assert parsed.ownership_txt is None
    assert not parsed.has_validation_records
    assert parsed.created_at is None
    assert parsed.certificate_expires_at is None


def test_a_hostname_without_ssl_or_status_still_parses(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer(
        "GET", HOSTNAME_ID, envelope({"id": HOSTNAME_ID, "hostname": "bare.dev", "ssl": None})
    )

    parsed = canned_client.get(HOSTNAME_ID)

    assert (parsed.status, parsed.ssl_status, parsed.ssl_method) == ("", "", "")


def test_deprecated_flattened_validation_fields_are_understood(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer(
        "GET",
        HOSTNAME_ID,
        envelope(
            {
                "id": HOSTNAME_ID,
                "hostname": f"old.{CUSTOMER}",
                "status": "pending",
                "ssl": {
                    "status": "pending_validation",
                    "method": "txt",
                    "txt_name": f"_acme-challenge.old.{CUSTOMER}",
                    "txt_value": "token-1",
                    "cname": f"_acme-challenge.old.{CUSTOMER}",
                    "cname_target": f"old.{CUSTOMER}.abc.dcv.cloudflare.com",
                    "issuer": "DigiCertInc",
                    "expires_on": "2027-03-01T12:00:00Z",
                },
            }
        ),
    )

    parsed = canned_client.get(HOSTNAME_ID)

    assert [(r.name, r.value) for r in parsed.validation_txt] == [
        (f"_acme-challenge.old.{CUSTOMER}", "token-1")
    ]
    assert [(r.name, r.target) for r in parsed.validation_cname] == [
        (f"_acme-challenge.old.{CUSTOMER}", f"old.{CUSTOMER}.abc.dcv.cloudflare.com")
    ]
    # No ssl.certificates[]: the top-level issuer and expiry are used instead.
    assert parsed.certificate_issuer == "DigiCertInc"
    assert parsed.certificate_expires_at == datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_an_enveloped_delete_answer_is_accepted_too(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer("DELETE", HOSTNAME_ID, envelope({"id": HOSTNAME_ID}))

    assert canned_client.delete(HOSTNAME_ID) is True
    assert canned.seen[0].body == b""  # the SDKs send no body either


def test_a_success_envelope_saying_false_is_an_error(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer(
        "GET",
        "/quota",
        {"success": False, "errors": [{"code": 1403, "message": "No Authorization header"}]},
    )

    with pytest.raises(CloudflarePermanentError) as failed:
        canned_client.get_quota()

    assert failed.value.codes == (1403,)


def test_list_without_total_pages_stops_on_an_empty_page(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    full = [{"id": str(uuid.uuid4()), "hostname": f"p{n}.{CUSTOMER}"} for n in range(5)]
    info = {"page": 1, "per_page": 5, "count": 5, "total_count": 5}
    canned.answer("GET", "/custom_hostnames", envelope(full, result_info=info))
    canned.answer("GET", "/custom_hostnames", envelope([], result_info={**info, "count": 0}))

    listed = canned_client.list(per_page=5)

    assert len(listed) == 5
    assert [r.query["page"] for r in canned.seen] == [["1"], ["2"]]


def test_a_server_that_ignores_page_cannot_loop_forever(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    same = [{"id": str(uuid.uuid4()), "hostname": f"s{n}.{CUSTOMER}"} for n in range(5)]
    canned.answer("GET", "/custom_hostnames", envelope(same))

    assert len(canned_client.list(per_page=5)) == 5
    assert len(canned.seen) == 2


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ({"Ratelimit": '"default";r=0;t=12'}, 12.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "RESET_IN_9S"}, 9.0),
        ({"Retry-After": "3", "Ratelimit": '"default";r=0;t=12'}, 3.0),
    ],
)
def test_a_429_reads_either_rate_limit_header_family(
    canned: CannedCloudflare,
    canned_client: CloudflareClient,
    clock: FakeClock,
    family: dict[str, str],
    expected: float,
) -> None:
    headers = {
        name: format_datetime(datetime.fromtimestamp(clock.now + 9, tz=UTC), usegmt=True)
        if value == "RESET_IN_9S"
        else value
        for name, value in family.items()
    }
    error = {"success": False, "errors": [{"code": 971, "message": "Please wait"}]}
    canned.answer("GET", "/quota", error, status=429, headers=headers)
    canned.answer("GET", "/quota", envelope({"allocated": 1, "used": 0}))

    canned_client.get_quota()

    assert len(clock.sleeps) == 1
    # RFC 1123 dates have whole seconds, so that family may round down by under a second.
    assert clock.sleeps[0] == pytest.approx(expected, abs=1.0)


def test_an_older_10100_rate_limit_answer_is_rate_limited_too(
    canned: CannedCloudflare, canned_client: CloudflareClient, clock: FakeClock
) -> None:
    error = {"success": False, "errors": [{"code": 10100, "message": "More than 1200 requests"}]}
    canned.answer("GET", "/quota", error, status=429)

    with pytest.raises(CloudflareRateLimitedError) as limited:
        canned_client.get_quota()

    # No header says when: Cloudflare documents a block of the whole window.
    assert limited.value.retry_after == 300
    assert clock.sleeps == []


def test_plain_401_without_a_code_is_an_auth_error(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer("GET", "/quota", {"success": False, "errors": []}, status=401)

    with pytest.raises(CloudflareAuthError):
        canned_client.get_quota()
    assert len(canned.seen) == 1


def test_the_remaining_zero_header_pauses_the_budget_before_cloudflare_says_429(
    canned: CannedCloudflare, canned_client: CloudflareClient, budget: RateBudget, clock: FakeClock
) -> None:
    canned.answer(
        "GET",
        "/quota",
        envelope({"allocated": 1, "used": 0}),
        headers={"Ratelimit": '"default";r=0;t=40'},
    )

    canned_client.get_quota()

    paused = budget.paused_until()
    assert paused is not None
    assert paused.timestamp() == pytest.approx(clock.now + 40)


def test_the_request_carries_the_bearer_token_and_a_json_body(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    canned.answer(
        "POST", "/custom_hostnames", envelope({"id": HOSTNAME_ID, "hostname": "a.dev"}), 201
    )

    canned_client.create("a.dev")

    request = canned.seen[0]
    assert request.headers["authorization"] == "Bearer canned-token"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body)["ssl"]["settings"] == {"min_tls_version": "1.2"}
    assert request.path == f"/client/v4/zones/{'c' * 32}/custom_hostnames"


def test_a_5xx_carrying_the_ratelimit_header_is_still_retried_after_a_short_backoff(
    canned: CannedCloudflare, canned_client: CloudflareClient, clock: FakeClock
) -> None:
    # The Ratelimit header rides on every answer; its t= is the window reset, not a retry delay.
    failure = {"success": False, "errors": [{"code": 1500, "message": "Internal Server Error"}]}
    canned.answer(
        "GET", "/quota", failure, status=500, headers={"Ratelimit": '"default";r=5;t=280'}
    )
    canned.answer("GET", "/quota", envelope({"allocated": 1, "used": 0}))

    canned_client.get_quota()

    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] <= 0.5
    assert len(canned.seen) == 2


def test_a_403_about_a_missing_entitlement_is_not_an_auth_error(
    canned: CannedCloudflare, canned_client: CloudflareClient
) -> None:
    refusal = {"success": False, "errors": [{"code": 1413, "message": "No custom metadata"}]}
    canned.answer("POST", "/custom_hostnames", refusal, status=403)

    with pytest.raises(CloudflarePermanentError) as refused:
        canned_client.create(f"meta.{CUSTOMER}")

    assert not isinstance(refused.value, CloudflareAuthError)
    assert refused.value.codes == (1413,)


def test_a_hostname_longer_than_a_certificate_name_asks_for_cloudflare_branding(
    client: CloudflareClient, cloudflare_sim: CloudflareSandbox
) -> None:
    long_name = f"{'a' * 50}.{'b' * 20}.{CUSTOMER}"
    sent = bodies(cloudflare_sim)

    created = client.create(long_name)
    client.create(f"short.{CUSTOMER}")

    assert created.hostname == long_name
    assert sent[0][1]["ssl"]["cloudflare_branding"] is True
    assert "cloudflare_branding" not in sent[1][1]["ssl"]


def test_an_error_page_without_json_reads_its_status_once() -> None:
    error = CloudflareTransientError("Cloudflare answered HTTP 520", status=520)

    assert str(error) == "Cloudflare answered HTTP 520"
    assert str(CloudflareTransientError("Bad gateway", status=502)) == "Bad gateway | HTTP 502"
