"""How a custom hostname moves through Cloudflare's states in the simulator
(domains/cloudflare/CONTRACT.md §5).

Time is a ManualClock the tests drive; transitions happen when a hostname is read.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from sandbox.cloudflare import CloudflareSandbox, Delays, ManualClock
from sandbox.dns import DnsSandbox
from tests.fixtures.cloudflare import CloudflareHttp

HOST = "shop.test-customer.dev"
NO_CNAME = ["custom hostname does not CNAME to this zone."]


@pytest.fixture
def clock(cloudflare_sim: CloudflareSandbox) -> ManualClock:
    clock = ManualClock()
    cloudflare_sim.configure(clock=clock)
    return clock


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_validation_records_appear_only_after_the_records_delay(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    cloudflare_sim.configure(delays=Delays(records=10))

    created = cloudflare_http.create(HOST)
    clock.advance(9)
    early = cloudflare_http.get(created["id"])
    clock.advance(1)
    ready = cloudflare_http.get(created["id"])

    for result in (created, early):
        assert result["status"] == "pending"
        assert result["ssl"]["status"] == "initializing"
        assert "validation_records" not in result["ssl"]
        assert "ownership_verification" not in result
    assert ready["ssl"]["status"] == "pending_validation"
    assert ready["verification_errors"] == NO_CNAME
    assert ready["ownership_verification"] == {
        "type": "txt",
        "name": f"_cf-custom-hostname.{HOST}",
        "value": ready["ownership_verification"]["value"],
    }
    assert re.fullmatch(r"[0-9a-f-]{36}", ready["ownership_verification"]["value"])
    assert ready["ownership_verification_http"]["http_body"]
    txt = next(r for r in ready["ssl"]["validation_records"] if "txt_name" in r)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", txt["txt_value"])


def test_the_hostname_goes_active_with_a_certificate_once_the_customer_adds_the_cname(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    created = cloudflare_http.create(HOST)
    assert cloudflare_http.get(created["id"])["status"] == "pending"

    cloudflare_sim.set_cname(HOST)
    result = cloudflare_http.get(created["id"])

    assert result["status"] == "active"
    assert result["ssl"]["status"] == "active"
    assert "verification_errors" not in result
    assert "validation_records" not in result["ssl"]
    assert "issuer" not in result["ssl"]
    assert "expires_on" not in result["ssl"]
    (cert,) = result["ssl"]["certificates"]
    assert cert["issuer"] == "GoogleTrustServices"
    assert parse(cert["issued_on"]) == clock.now
    assert parse(cert["expires_on"]) - parse(cert["issued_on"]) == timedelta(days=90)
    assert re.fullmatch(r"[0-9a-f]{64}", cert["fingerprint_sha256"])
    assert cert["serial_number"]


def test_a_hostname_added_active_answers_as_one_that_went_through_every_step(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    walked = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    walked = cloudflare_http.get(walked["id"])
    requests_before = len(cloudflare_sim.requests)

    size = cloudflare_sim.add_active(["seeded.test-customer.dev", "other.test-customer.dev"])

    assert size == 3
    assert len(cloudflare_sim.requests) == requests_before  # nothing was asked over HTTP
    listed = cloudflare_http.request("GET", params={"hostname": "seeded.test-customer.dev"})
    (seeded,) = listed.json()["result"]
    assert seeded == cloudflare_http.get(seeded["id"])

    def shape(result: dict[str, object]) -> dict[str, object]:
        volatile = {"id", "hostname", "created_at", "ownership_verification"}
        volatile |= {"ownership_verification_http", "ssl"}
        return {k: v for k, v in result.items() if k not in volatile}

    assert shape(seeded) == shape(walked)
    assert seeded["ssl"].keys() == walked["ssl"].keys()
    assert seeded["ssl"]["status"] == "active"
    (cert,) = seeded["ssl"]["certificates"]
    assert parse(cert["expires_on"]) - parse(cert["issued_on"]) == timedelta(days=90)
    assert [h["hostname"] for h in cloudflare_sim.hostnames(1, 2)] == ["seeded.test-customer.dev"]
    with pytest.raises(ValueError, match="already in the zone"):
        cloudflare_sim.add_active([HOST])


def test_ssl_steps_through_issuance_and_deployment_after_their_delays(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    cloudflare_sim.configure(delays=Delays(records=5, issuance=30, deployment=60))
    created = cloudflare_http.create(
        HOST, ssl={"method": "http", "type": "dv", "certificate_authority": "lets_encrypt"}
    )
    cloudflare_sim.set_cname(HOST)

    seen = []
    for step in (5, 29, 1, 59, 1):
        clock.advance(step)
        result = cloudflare_http.get(created["id"])
        seen.append((result["status"], result["ssl"]["status"]))

    assert seen == [
        ("active", "pending_issuance"),
        ("active", "pending_issuance"),
        ("active", "pending_deployment"),
        ("active", "pending_deployment"),
        ("active", "active"),
    ]
    cert = cloudflare_http.get(created["id"])["ssl"]["certificates"][0]
    assert cert["issuer"] == "LetsEncrypt"
    assert parse(cert["issued_on"]) == clock.now


def test_a_skipped_clock_completes_every_due_step_in_one_read(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    cloudflare_sim.configure(delays=Delays(records=5, issuance=30, deployment=60))
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    clock.advance(5)
    validated = cloudflare_http.get(created["id"])  # the CNAME is seen when a read checks
    validated_at = clock.now

    clock.advance(3600)
    result = cloudflare_http.get(created["id"])

    assert validated["ssl"]["status"] == "pending_issuance"
    assert (result["status"], result["ssl"]["status"]) == ("active", "active")
    issued = parse(result["ssl"]["certificates"][0]["issued_on"])
    assert issued == validated_at + timedelta(seconds=30 + 60)


def test_the_hostname_goes_active_when_dns_has_a_cname_chain_to_the_target(
    dns_sandbox: DnsSandbox,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: object,
) -> None:
    target = settings.DCV_CNAME_TARGET  # type: ignore[attr-defined]
    created = cloudflare_http.create(HOST)
    elsewhere = cloudflare_http.create("other.test-customer.dev")
    dns_sandbox.cname(HOST, "edge.customer-cdn-test.dev")
    dns_sandbox.cname("edge.customer-cdn-test.dev", target)
    dns_sandbox.cname("other.test-customer.dev", "somewhere-else.customer-cdn-test.dev")

    assert cloudflare_http.get(created["id"])["status"] == "active"
    assert cloudflare_http.get(elsewhere["id"])["status"] == "pending"


def test_dns_answers_are_cached_briefly_but_a_refresh_checks_again_at_once(
    dns_sandbox: DnsSandbox,
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    settings: object,
) -> None:
    cloudflare_sim.configure(delays=Delays(dns_cache=60))
    created = cloudflare_http.create(HOST)
    assert cloudflare_http.get(created["id"])["status"] == "pending"

    dns_sandbox.cname(HOST, settings.DCV_CNAME_TARGET)  # type: ignore[attr-defined]
    cached = cloudflare_http.get(created["id"])
    refreshed = cloudflare_http.refresh(created["id"])

    assert cached["status"] == "pending"
    assert (refreshed["status"], refreshed["ssl"]["status"]) == ("active", "active")


def test_set_cname_overrides_what_dns_says(
    dns_sandbox: DnsSandbox, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST, present=True)

    assert cloudflare_http.get(created["id"])["status"] == "active"


def test_removing_the_cname_moves_an_active_hostname(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    assert cloudflare_http.get(created["id"])["status"] == "active"

    cloudflare_sim.set_cname(HOST, present=False)
    result = cloudflare_http.get(created["id"])

    assert result["status"] == "moved"
    assert result["verification_errors"] == NO_CNAME


def test_a_hostname_that_never_gets_its_cname_is_moved_after_the_give_up_time(
    cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    created = cloudflare_http.create(HOST)
    clock.advance(7 * 24 * 3600 - 1)
    still_pending = cloudflare_http.get(created["id"])
    clock.advance(1)
    moved = cloudflare_http.get(created["id"])

    assert still_pending["status"] == "pending"
    assert moved["status"] == "moved"
    assert moved["ssl"]["status"] == "pending_validation"


def test_a_refresh_sends_a_moved_hostname_back_to_pending_and_restarts_the_schedule(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    created = cloudflare_http.create(HOST)
    clock.advance(7 * 24 * 3600)
    assert cloudflare_http.get(created["id"])["status"] == "moved"

    refreshed = cloudflare_http.refresh(created["id"])
    clock.advance(7 * 24 * 3600 - 1)
    still_pending = cloudflare_http.get(created["id"])
    cloudflare_sim.set_cname(HOST)
    active = cloudflare_http.get(created["id"])

    assert (refreshed["status"], refreshed["ssl"]["status"]) == ("pending", "pending_validation")
    assert refreshed["verification_errors"] == NO_CNAME
    assert still_pending["status"] == "pending"
    assert active["status"] == "active"


def test_a_moved_hostname_stays_moved_until_refreshed_even_with_the_cname(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    created = cloudflare_http.create(HOST)
    clock.advance(7 * 24 * 3600)
    cloudflare_http.get(created["id"])

    cloudflare_sim.set_cname(HOST)

    assert cloudflare_http.get(created["id"])["status"] == "moved"
    assert cloudflare_http.refresh(created["id"])["status"] == "active"


def test_a_refresh_of_an_active_hostname_keeps_its_certificate(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    before = cloudflare_http.get(created["id"])

    after = cloudflare_http.refresh(created["id"])

    assert after == before


def test_changing_the_dcv_method_reissues_the_certificate_with_new_tokens(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    cloudflare_sim.configure(delays=Delays(records=10))
    created = cloudflare_http.create(HOST)
    clock.advance(10)
    before = cloudflare_http.get(created["id"])

    reissued = cloudflare_http.refresh(created["id"], method="txt")
    clock.advance(10)
    ready = cloudflare_http.get(created["id"])

    assert reissued["ssl"]["method"] == "txt"
    assert reissued["ssl"]["status"] == "initializing"
    assert reissued["ssl"]["id"] != before["ssl"]["id"]
    assert [r["txt_name"] for r in ready["ssl"]["validation_records"]] == [
        f"_acme-challenge.{HOST}"
    ]
    old_txt = next(r for r in before["ssl"]["validation_records"] if "txt_value" in r)
    assert ready["ssl"]["validation_records"][0]["txt_value"] != old_txt["txt_value"]


def test_changing_the_certificate_authority_reissues_an_active_certificate(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    before = cloudflare_http.get(created["id"])

    response = cloudflare_http.request(
        "PATCH",
        f"/{created['id']}",
        json={"ssl": {"method": "http", "type": "dv", "certificate_authority": "ssl_com"}},
    )
    after = response.json()["result"]

    assert response.status_code == 202
    assert after["ssl"]["id"] != before["ssl"]["id"]
    assert after["ssl"]["certificates"][0]["issuer"] == "SSLCorporation"


# -- special hostnames ------------------------------------------------------------------------


def test_a_blocked_hostname_is_blocked_with_the_held_zone_message(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create("blocked.test-customer.dev")
    cloudflare_sim.set_cname("blocked.test-customer.dev")

    result = cloudflare_http.get(created["id"])
    refreshed = cloudflare_http.refresh(created["id"])

    assert result["status"] == "blocked"
    assert "held zone" in result["verification_errors"][0]
    assert result["ssl"]["status"] == "pending_validation"
    assert refreshed["status"] == "blocked"


def test_a_moved_hostname_is_moved_even_with_its_cname(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create("moved-1.test-customer.dev")
    cloudflare_sim.set_cname("moved-1.test-customer.dev")

    assert cloudflare_http.get(created["id"])["status"] == "moved"
    assert cloudflare_http.refresh(created["id"])["status"] == "moved"


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("caa.test-customer.dev", "caa_error: caa.test-customer.dev"),
        ("servfail.test-customer.dev", "SERVFAIL looking up CAA for servfail.test-customer.dev"),
    ],
)
def test_a_caa_problem_keeps_ssl_pending_validation_with_its_error(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, hostname: str, message: str
) -> None:
    created = cloudflare_http.create(hostname)
    cloudflare_sim.set_cname(hostname)

    result = cloudflare_http.get(created["id"])
    refreshed = cloudflare_http.refresh(created["id"])

    assert result["status"] == "active"
    assert result["ssl"]["status"] == "pending_validation"
    assert result["ssl"]["validation_errors"] == [{"message": message}]
    assert refreshed["ssl"]["validation_errors"] == [{"message": message}]


def test_a_timeout_hostname_times_out_until_refreshed(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create("timeout.test-customer.dev")
    cloudflare_sim.set_cname("timeout.test-customer.dev")

    timed_out = cloudflare_http.get(created["id"])
    refreshed = cloudflare_http.refresh(created["id"])

    assert timed_out["ssl"]["status"] == "validation_timed_out"
    assert (refreshed["status"], refreshed["ssl"]["status"]) == ("active", "active")


# -- control API ------------------------------------------------------------------------------


def test_set_state_holds_until_a_refresh(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    cloudflare_sim.set_state(
        HOST,
        status="pending",
        ssl_status="issuance_timed_out",
        verification_errors=["Zone does not have a fallback origin set."],
        validation_errors=["caa_error: shop.test-customer.dev"],
    )

    held = cloudflare_http.get(created["id"])
    refreshed = cloudflare_http.refresh(created["id"])

    assert (held["status"], held["ssl"]["status"]) == ("pending", "issuance_timed_out")
    assert held["verification_errors"] == ["Zone does not have a fallback origin set."]
    assert held["ssl"]["validation_errors"] == [{"message": "caa_error: shop.test-customer.dev"}]
    assert (refreshed["status"], refreshed["ssl"]["status"]) == ("active", "active")


def test_set_state_active_gives_the_hostname_a_certificate(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)

    cloudflare_sim.set_state(HOST, status="active", ssl_status="active", verification_errors=[])

    result = cloudflare_http.get(created["id"])
    assert result["ssl"]["certificates"][0]["issuer"] == "GoogleTrustServices"


def test_set_state_refuses_statuses_cloudflare_does_not_have(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    cloudflare_http.create(HOST)

    with pytest.raises(ValueError, match="unknown ssl status"):
        cloudflare_sim.set_state(HOST, ssl_status="done")
    with pytest.raises(LookupError):
        cloudflare_sim.set_state("unknown.test-customer.dev", status="active")


def test_remove_makes_the_hostname_vanish_at_cloudflare(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)

    cloudflare_sim.remove(HOST)

    response = cloudflare_http.request("GET", f"/{created['id']}")
    assert (response.status_code, response.json()["errors"][0]["code"]) == (404, 1436)
    assert cloudflare_sim.hostnames() == []


def test_hostnames_gives_a_snapshot_in_api_shape(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    created = cloudflare_http.create(HOST)

    snapshot = cloudflare_sim.hostnames()
    snapshot[0]["status"] = "changed by the caller"

    assert cloudflare_sim.hostnames() == [cloudflare_http.get(created["id"])]


def test_validation_waits_the_validation_delay_from_when_the_cname_is_first_seen(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    cloudflare_sim.configure(delays=Delays(validation=30))
    created = cloudflare_http.create(HOST)
    cloudflare_http.get(created["id"])

    cloudflare_sim.set_cname(HOST)
    clock.advance(5)
    seen = cloudflare_http.get(created["id"])  # Cloudflare first sees the CNAME here
    clock.advance(29)
    early = cloudflare_http.get(created["id"])
    clock.advance(1)
    validated = cloudflare_http.get(created["id"])

    for result in (seen, early):
        assert (result["status"], result["ssl"]["status"]) == ("pending", "pending_validation")
    assert (validated["status"], validated["ssl"]["status"]) == ("active", "active")


def test_a_cname_taken_away_before_validation_is_seen_anew_when_it_returns(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, clock: ManualClock
) -> None:
    cloudflare_sim.configure(delays=Delays(validation=30))
    created = cloudflare_http.create(HOST)
    cloudflare_sim.set_cname(HOST)
    cloudflare_http.get(created["id"])
    clock.advance(20)
    cloudflare_sim.set_cname(HOST, present=False)
    cloudflare_http.get(created["id"])
    cloudflare_sim.set_cname(HOST)
    cloudflare_http.get(created["id"])
    clock.advance(20)

    assert cloudflare_http.get(created["id"])["status"] == "pending"
    clock.advance(10)
    assert cloudflare_http.get(created["id"])["status"] == "active"


def test_a_spread_gives_each_hostname_its_own_step_delays_within_the_stated_range() -> None:
    delays = Delays(validation=40, issuance=60, deployment=20, spread=0.5)

    drawn = [delays.of("issuance", f"hostname-{n}") for n in range(200)]

    assert all(30 <= d <= 90 for d in drawn)
    assert len(set(drawn)) == 200
    assert delays.of("issuance", "hostname-7") == drawn[7]  # fixed per hostname and step
    assert Delays(issuance=60).of("issuance", "hostname-7") == 60
