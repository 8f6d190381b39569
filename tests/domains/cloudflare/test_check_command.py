"""`manage.py cloudflare_check` against the Cloudflare simulator."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sandbox.cloudflare import CloudflareSandbox, Delays, ManualClock

pytestmark = pytest.mark.django_db


def run_check() -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("cloudflare_check", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def line(output: str, name: str) -> str:
    """The result line of the check called `name` (and its advice line, if any)."""
    lines = output.splitlines()
    for index, text in enumerate(lines):
        if text.split(":", 1)[0].split(None, 1)[-1] == name:
            advice = lines[index + 1] if index + 1 < len(lines) else ""
            return text + ("\n" + advice if "What to do" in advice else "")
    raise AssertionError(f"no {name!r} line in:\n{output}")


@pytest.fixture
def healthy(cloudflare_sim: CloudflareSandbox, cloudflare_http: Any) -> CloudflareSandbox:
    response = cloudflare_http.request("PUT", "/fallback_origin", json={"origin": "fb.saas.dev"})
    assert response.status_code == 200
    cloudflare_http.create("one.test-customer.dev", ssl={"method": "http", "type": "dv"})
    return cloudflare_sim


def test_a_healthy_zone_passes_every_check(healthy: CloudflareSandbox, settings: Any) -> None:
    output, error = run_check()

    assert error is None
    assert line(output, "settings").startswith("OK")
    assert line(output, "token") == "OK       token: accepted"
    assert (
        line(output, "zone")
        == f"OK       zone: {healthy.zone_id} is reachable (1 custom hostname(s))"
    )
    assert line(output, "fallback origin") == "OK       fallback origin: fb.saas.dev is active"
    assert line(output, "quota") == "OK       quota: 1 used of 100 included, hard cap 50000"
    target = settings.DCV_CNAME_TARGET
    assert line(output, "CNAME target") == (
        f"OK       CNAME target: customers will CNAME their hostnames to {target}"
    )
    assert "PROBLEM" not in output
    assert output.rstrip().endswith("All Cloudflare checks passed.")


def test_a_rejected_token_is_a_problem_and_stops_the_api_checks(
    healthy: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_API_TOKEN = "revoked-token"

    output, error = run_check()

    assert error is not None
    assert error.returncode == 1
    token = line(output, "token")
    assert token.startswith("PROBLEM  token: Cloudflare rejected the token")
    assert "SSL and Certificates > Edit" in token
    assert "fallback origin" not in output
    assert len(healthy.requests) == 3  # the fixture's two calls and the token check


def test_a_zone_the_token_cannot_use_is_explained(
    healthy: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_ZONE_ID = "e" * 32

    output, error = run_check()

    assert error is not None
    assert "Zone ID" in line(output, "token")


def test_an_unroutable_zone_id_is_a_zone_problem(healthy: CloudflareSandbox, settings: Any) -> None:
    healthy.configure(unknown_zone_code=7003)
    settings.CLOUDFLARE_ZONE_ID = "e" * 32

    output, error = run_check()

    assert error is not None
    assert line(output, "zone").startswith(
        f"PROBLEM  zone: Cloudflare does not know zone {'e' * 32}"
    )


def test_a_missing_fallback_origin_and_a_full_quota_are_problems(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: Any
) -> None:
    cloudflare_sim.configure(allocated=1, hard_cap=2)
    for name in ("a", "b"):
        cloudflare_http.create(f"{name}.test-customer.dev", ssl={"method": "http", "type": "dv"})

    output, error = run_check()

    assert error is not None
    assert "2 problem(s)" in str(error)
    fallback = line(output, "fallback origin")
    assert fallback.startswith("PROBLEM  fallback origin: none is set")
    assert "proxied" in fallback
    quota = line(output, "quota")
    assert quota.startswith("PROBLEM  quota: 2 used of 1 included, hard cap 2: the hard cap")


def test_a_fallback_origin_still_deploying_is_explained(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: Any
) -> None:
    cloudflare_sim.configure(delays=Delays(deployment=600.0), clock=ManualClock(datetime.now(UTC)))
    cloudflare_http.request("PUT", "/fallback_origin", json={"origin": "fb.saas.dev"})

    output, error = run_check()

    assert error is not None
    fallback = line(output, "fallback origin fb.saas.dev")
    assert "is pending_deployment: Cloudflare is still deploying it" in fallback
    assert "Wait a few minutes and run this again" in fallback


def test_a_quota_near_the_hard_cap_is_a_warning_not_a_failure(
    healthy: CloudflareSandbox, cloudflare_http: Any
) -> None:
    healthy.configure(allocated=5, hard_cap=10)
    for n in range(8):
        cloudflare_http.create(f"n{n}.test-customer.dev", ssl={"method": "http", "type": "dv"})

    output, error = run_check()

    assert error is None
    assert line(output, "quota").startswith(
        "WARN     quota: 9 used of 5 included, hard cap 10: close"
    )


def test_missing_settings_are_named_and_nothing_is_called(
    cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_API_TOKEN = ""
    settings.DCV_CNAME_TARGET = ""

    output, error = run_check()

    assert error is not None
    assert line(output, "setting CLOUDFLARE_API_TOKEN").startswith("PROBLEM")
    assert "DCV_CNAME_TARGET is not set" in line(output, "CNAME target")
    assert cloudflare_sim.requests == []


def test_a_cname_target_that_is_not_a_hostname_is_a_problem(
    healthy: CloudflareSandbox, settings: Any
) -> None:
    settings.DCV_CNAME_TARGET = "https://customers.saas.dev/"

    output, error = run_check()

    assert error is not None
    assert line(output, "CNAME target").startswith("PROBLEM  CNAME target: DCV_CNAME_TARGET")


def test_an_unreachable_cloudflare_is_a_connection_problem(
    cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_MAX_RETRIES = 0
    cloudflare_sim.inject_fault("drop")

    output, error = run_check()

    assert error is not None
    assert line(output, "connection").startswith("PROBLEM  connection: could not get an answer")


def test_origins_are_checked_by_writing_and_removing_a_marked_record(
    healthy: CloudflareSandbox,
) -> None:
    output, error = run_check()

    assert error is None
    assert line(output, "DNS records") == (
        "OK       DNS records: the token can write records in origins.pcnaid.com"
    )
    assert line(output, "custom origins").startswith("WARN     custom origins: not known yet")
    assert healthy.dns_records() == []  # the probe record is gone
    assert [r.method for r in healthy.requests if "dns_records" in r.path] == ["POST", "DELETE"]


def test_a_zone_cloudflare_refused_custom_origins_to_is_reported_with_what_to_do(
    healthy: CloudflareSandbox,
) -> None:
    from domains.models import ZoneEntitlement

    ZoneEntitlement.refuse_custom_origins("not granted")

    output, error = run_check()

    assert error is None  # a warning: the product keeps working on the fallback origin
    assert "Cloudflare refused them on" in line(output, "custom origins")
    assert "Try custom origins again" in line(output, "custom origins")
