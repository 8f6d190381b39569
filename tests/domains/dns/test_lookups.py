"""The app's DNS checks against the loopback DNS simulator (real queries, no patching)."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from domains.dns import (
    CLOUDFLARE_CAS,
    MAX_HOPS,
    CaaRecord,
    Verdict,
    check_caa,
    check_cname,
)
from domains.dns.resolver import _nameserver_setting
from sandbox.dns import DEFAULT_TARGET_A, DnsSandbox

ZONE = "client.test-customer.dev"
APP = f"app.{ZONE}"
TARGET = "dcv.pcnaid.com"


@pytest.fixture
def zone(dns_sandbox: DnsSandbox) -> DnsSandbox:
    dns_sandbox.add_zone(ZONE)
    return dns_sandbox


# -- check_cname ---------------------------------------------------------------------------------


def test_a_cname_straight_to_our_target_points_to_us(zone: DnsSandbox) -> None:
    zone.cname(APP, TARGET)

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_TO_US
    assert check.ok
    assert check.chain == (APP, TARGET)
    assert check.message == f"{APP} points to {TARGET}."


def test_a_two_hop_chain_that_reaches_our_target_points_to_us(zone: DnsSandbox) -> None:
    zone.cname(APP, "edge.cdn-provider.test")
    zone.cname("edge.cdn-provider.test", TARGET)

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_TO_US
    assert check.chain == (APP, "edge.cdn-provider.test", TARGET)
    assert "through edge.cdn-provider.test" in check.message


def test_hostnames_are_compared_without_case_or_trailing_dot(zone: DnsSandbox) -> None:
    zone.cname(APP, TARGET)

    check = check_cname(" App.Client.Test-Customer.DEV. ", target="DCV.pcnaid.com.")

    assert check.verdict == Verdict.POINTS_TO_US
    assert check.hostname == APP


def test_the_target_defaults_to_the_setting(zone: DnsSandbox, settings: Settings) -> None:
    settings.DCV_CNAME_TARGET = "edge.other-saas.test"
    zone.cname(APP, TARGET)

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_ELSEWHERE
    assert check.target == "edge.other-saas.test"


def test_a_flattened_name_with_our_targets_addresses_points_to_us(zone: DnsSandbox) -> None:
    zone.set_record(APP, "A", DEFAULT_TARGET_A)

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_TO_US
    assert check.addresses == (DEFAULT_TARGET_A,)
    assert "flattens" in check.message


def test_a_flattened_zone_apex_with_our_addresses_points_to_us(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "A", DEFAULT_TARGET_A)

    assert check_cname(ZONE).verdict == Verdict.POINTS_TO_US


def test_a_cname_to_another_host_points_elsewhere_and_says_what_to_change(
    zone: DnsSandbox,
) -> None:
    zone.cname(APP, "shop.other-host.test")
    zone.set_record("shop.other-host.test", "A", "203.0.113.50")

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_ELSEWHERE
    assert check.chain == (APP, "shop.other-host.test")
    assert check.addresses == ("203.0.113.50",)
    assert check.message == (
        f"{APP} points to shop.other-host.test, not to {TARGET}. "
        f"Change the CNAME record's value to {TARGET}."
    )


def test_a_cname_to_a_name_that_does_not_exist_points_elsewhere(zone: DnsSandbox) -> None:
    zone.cname(APP, "typo.pcnaid.co")

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_ELSEWHERE
    assert check.chain[-1] == "typo.pcnaid.co"
    assert "does not exist" in check.message


def test_a_name_with_other_addresses_points_elsewhere(zone: DnsSandbox) -> None:
    zone.set_record(APP, "A", ["203.0.113.7", DEFAULT_TARGET_A])
    zone.set_record(APP, "AAAA", "2001:db8::7")

    check = check_cname(APP)

    assert check.verdict == Verdict.POINTS_ELSEWHERE
    assert check.addresses == (DEFAULT_TARGET_A, "203.0.113.7", "2001:db8::7")
    assert "Replace its A/AAAA records with a CNAME record" in check.message


def test_a_name_that_does_not_exist_is_missing(zone: DnsSandbox) -> None:
    check = check_cname(APP)

    assert check.verdict == Verdict.MISSING
    assert check.chain == (APP,)
    assert f"Create a CNAME record for {APP} with the value {TARGET}" in check.message


def test_a_name_with_no_cname_or_address_records_is_missing(zone: DnsSandbox) -> None:
    zone.set_record(APP, "TXT", "verification=123")

    check = check_cname(APP)

    assert check.verdict == Verdict.MISSING
    assert "has no CNAME, A or AAAA record" in check.message


def test_a_zone_apex_that_does_not_point_to_us_is_apex(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "A", "203.0.113.80")

    check = check_cname(ZONE)

    assert check.verdict == Verdict.APEX
    assert check.addresses == ("203.0.113.80",)
    assert "apex" in check.message
    assert f"app.{ZONE}" in check.message


def test_a_zone_apex_without_addresses_is_apex_rather_than_missing(zone: DnsSandbox) -> None:
    assert check_cname(ZONE).verdict == Verdict.APEX


def test_a_cname_loop_could_not_be_told(zone: DnsSandbox) -> None:
    zone.cname(APP, f"www.{ZONE}")
    zone.cname(f"www.{ZONE}", APP)

    check = check_cname(APP)

    assert check.verdict == Verdict.UNKNOWN
    assert f"loop ({APP} → www.{ZONE} → {APP})" in check.message


def test_a_chain_longer_than_the_hop_cap_could_not_be_told(zone: DnsSandbox) -> None:
    names = [f"hop{i}.{ZONE}" for i in range(MAX_HOPS + 1)]
    for name, next_name in zip(names, [*names[1:], TARGET], strict=True):
        zone.cname(name, next_name)

    check = check_cname(names[0])

    assert check.verdict == Verdict.UNKNOWN
    assert f"more than {MAX_HOPS} CNAME records" in check.message
    assert len(check.chain) == MAX_HOPS + 1


def test_a_chain_at_the_hop_cap_still_reaches_us(zone: DnsSandbox) -> None:
    names = [f"hop{i}.{ZONE}" for i in range(MAX_HOPS)]
    for name, next_name in zip(names, [*names[1:], TARGET], strict=True):
        zone.cname(name, next_name)

    assert check_cname(names[0]).verdict == Verdict.POINTS_TO_US


def test_a_timeout_could_not_be_told_within_a_bounded_time(
    zone: DnsSandbox, settings: Settings
) -> None:
    settings.DNS_TIMEOUT = 0.3
    zone.fail(ZONE, "timeout")

    started = time.monotonic()
    check = check_cname(APP)
    elapsed = time.monotonic() - started

    assert check.verdict == Verdict.UNKNOWN
    assert "timed out" in check.message
    assert elapsed < 1.5


def test_a_timeout_partway_down_the_chain_could_not_be_told(zone: DnsSandbox) -> None:
    zone.cname(APP, "edge.slow-provider.test")
    zone.fail("slow-provider.test", "timeout")

    check = check_cname(APP)

    assert check.verdict == Verdict.UNKNOWN
    assert check.chain == (APP, "edge.slow-provider.test")
    assert "lookup of edge.slow-provider.test timed out" in check.message


@pytest.mark.parametrize(("mode", "words"), [("servfail", "SERVFAIL"), ("refused", "REFUSED")])
def test_a_failing_nameserver_could_not_be_told(zone: DnsSandbox, mode: str, words: str) -> None:
    zone.cname(APP, TARGET)
    zone.fail(APP, mode)

    check = check_cname(APP)

    assert check.verdict == Verdict.UNKNOWN
    assert words in check.message


def test_no_reachable_nameserver_could_not_be_told(settings: Settings) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.DNS_RESOLVER = f"127.0.0.1:{port}"  # nothing listens there any more
    settings.DNS_TIMEOUT = 0.3

    started = time.monotonic()
    check = check_cname(APP)

    assert check.verdict == Verdict.UNKNOWN
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "hostname",
    [
        "",
        "   ",
        "not a hostname",
        "localhost",
        "-bad.example.com",
        "a..b.com",
        "203.0.113.5",
        "x" * 64 + ".com",
        "é" * 70 + ".com",
        "app.example.com/path",
        None,
        42,
    ],
)
def test_an_invalid_hostname_could_not_be_told_without_raising(
    dns_sandbox: DnsSandbox, hostname: object
) -> None:
    check = check_cname(hostname)  # type: ignore[arg-type]

    assert check.verdict == Verdict.UNKNOWN
    assert "not a valid hostname" in check.message
    assert check.chain == ()


def test_an_internationalised_hostname_is_checked_in_its_idna_form(zone: DnsSandbox) -> None:
    zone.cname(f"xn--bcher-kva.{ZONE}", TARGET)

    assert check_cname(f"bücher.{ZONE}").verdict == Verdict.POINTS_TO_US


label = st.text(alphabet=st.characters(codec="utf-8"), max_size=70) | st.from_regex(
    r"\A[a-z0-9-]{1,20}\Z"
)


@given(labels=st.lists(label, min_size=1, max_size=5))
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_label_strings_never_make_check_cname_raise(
    dns_sandbox: DnsSandbox, labels: list[str]
) -> None:
    check = check_cname(".".join(labels))

    assert check.verdict in set(Verdict)
    assert check.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:8853", ("127.0.0.1", 8853)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("localhost:8853", ("127.0.0.1", 8853)),
    ],
)
def test_the_resolver_setting_accepts_host_and_port_forms(
    value: str, expected: tuple[str, int]
) -> None:
    assert _nameserver_setting(value) == expected


@pytest.mark.parametrize(
    "value", ["127.0.0.1:dns", "127.0.0.1:70000", "127.0.0.1:0", "[::1]x", ":"]
)
def test_a_malformed_resolver_setting_is_improperly_configured(
    dns_sandbox: DnsSandbox, settings: Settings, value: str
) -> None:
    settings.DNS_RESOLVER = value

    with pytest.raises(ImproperlyConfigured, match="DNS_RESOLVER"):
        check_cname(APP)


# -- check_caa -----------------------------------------------------------------------------------


def test_no_caa_records_allow_cloudflare(zone: DnsSandbox) -> None:
    check = check_caa(APP)

    assert check.allows_cloudflare is True
    assert check.records == ()
    assert check.found_at is None
    assert check.cloudflare_cas == CLOUDFLARE_CAS


def test_caa_allowing_pki_goog_allows_cloudflare(zone: DnsSandbox) -> None:
    zone.set_record(APP, "CAA", ['0 issue "pki.goog"', '0 iodef "mailto:sec@client.test"'])

    check = check_caa(APP)

    assert check.allows_cloudflare is True
    assert check.found_at == APP
    assert check.cloudflare_cas == ("pki.goog",)
    assert CaaRecord(0, "issue", "pki.goog") in check.records


def test_caa_parameters_after_the_issuer_still_allow_it(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", '0 issue "LetsEncrypt.org; validationmethods=dns-01"')

    assert check_caa(APP).cloudflare_cas == ("letsencrypt.org",)


def test_caa_allowing_only_another_ca_blocks_cloudflare_and_says_what_to_add(
    zone: DnsSandbox,
) -> None:
    zone.set_record(ZONE, "CAA", '0 issue "digicert.com"')

    check = check_caa(APP)

    assert check.allows_cloudflare is False
    assert check.found_at == ZONE
    assert check.message.startswith(f"Your CAA records at {ZONE} only allow digicert.com")
    assert f'`{ZONE} CAA 0 issue "pki.goog"`' in check.message


def test_caa_records_at_the_parent_are_found_by_climbing(zone: DnsSandbox) -> None:
    zone.set_record("test-customer.dev", "CAA", '0 issue "ssl.com"')

    check = check_caa(f"deep.{APP}")

    assert check.found_at == "test-customer.dev"
    assert check.allows_cloudflare is True
    assert check.cloudflare_cas == ("ssl.com",)


def test_the_closest_caa_records_win_over_the_parents(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", '0 issue "pki.goog"')
    zone.set_record(APP, "CAA", '0 issue "digicert.com"')

    check = check_caa(APP)

    assert check.found_at == APP
    assert check.allows_cloudflare is False


def test_caa_at_a_cname_target_counts_for_the_alias(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", '0 issue "digicert.com"')
    zone.cname(APP, TARGET)
    zone.set_record(TARGET, "CAA", '0 issue "letsencrypt.org"')

    check = check_caa(APP)

    assert check.found_at == TARGET
    assert check.allows_cloudflare is True


def test_issuewild_decides_for_wildcards_and_issue_for_the_rest(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", ['0 issue "pki.goog"', '0 issuewild "digicert.com"'])

    plain = check_caa(APP)
    wildcard = check_caa(f"*.{ZONE}")

    assert plain.allows_cloudflare is True
    assert wildcard.allows_cloudflare is False
    assert "for wildcard certificates" in wildcard.message
    assert f'`{ZONE} CAA 0 issuewild "pki.goog"`' in wildcard.message


def test_wildcards_fall_back_to_issue_without_issuewild(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", '0 issue "letsencrypt.org"')

    check = check_caa(f"*.{ZONE}")

    assert check.allows_cloudflare is True
    assert check.hostname == f"*.{ZONE}"


def test_an_empty_issuer_forbids_every_ca(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", '0 issue ";"')

    check = check_caa(APP)

    assert check.allows_cloudflare is False
    assert "forbid every certificate authority" in check.message


def test_an_account_uri_pins_the_ca_to_the_customers_own_account(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", '0 issue "letsencrypt.org; accounturi=https://acme.test/acct/1"')

    check = check_caa(APP)

    assert check.allows_cloudflare is False
    assert "accounturi" in check.message


def test_a_critical_unknown_tag_blocks_every_ca(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", ['0 issue "pki.goog"', '128 futuretag "x"'])

    check = check_caa(APP)

    assert check.allows_cloudflare is False
    assert "critical" in check.message


def test_a_non_critical_unknown_tag_is_ignored(zone: DnsSandbox) -> None:
    zone.set_record(ZONE, "CAA", ['0 issue "pki.goog"', '0 futuretag "x"'])

    assert check_caa(APP).allows_cloudflare is True


@pytest.mark.parametrize("mode", ["servfail", "timeout"])
def test_a_failing_caa_lookup_could_not_be_told(zone: DnsSandbox, mode: str) -> None:
    zone.set_record(APP, "A", "203.0.113.9")
    zone.fail(ZONE, mode, rtype="CAA")

    check = check_caa(APP)

    assert check.allows_cloudflare is None
    assert "could not check the CAA records" in check.message


def test_an_invalid_hostname_gets_no_caa_verdict(dns_sandbox: DnsSandbox) -> None:
    check = check_caa("not a hostname")

    assert check.allows_cloudflare is None
    assert "not a valid hostname" in check.message


# -- the record form's classic mistakes -------------------------------------------------------


def test_a_record_created_with_the_zone_added_twice_to_its_name_is_named_as_such(
    zone: DnsSandbox,
) -> None:
    zone.cname(f"{APP}.{ZONE}", TARGET)  # typed "app.client…" where the host wanted "app"

    found = check_cname(APP)

    assert found.verdict == Verdict.MISSING
    assert found.code == "zone_appended_to_name"
    assert f"{APP}.{ZONE} has one" in found.message
    assert "Change that record's name to app (only the part before" in found.message


def test_a_value_with_the_zone_added_by_the_host_is_named_as_such(zone: DnsSandbox) -> None:
    zone.cname(APP, f"{TARGET}.{ZONE}")  # a host that appends the zone to a value without a dot

    found = check_cname(APP)

    assert found.verdict == Verdict.POINTS_ELSEWHERE
    assert found.code == "zone_appended_to_value"
    assert f"Change the value to {TARGET}; at most hosts, ending it with a dot" in found.message


def test_a_plain_missing_record_keeps_the_plain_code(zone: DnsSandbox) -> None:
    found = check_cname(APP)

    assert (found.verdict, found.code) == (Verdict.MISSING, "missing")


def test_a_record_proxied_at_cloudflare_is_could_not_tell_with_the_reason(
    zone: DnsSandbox,
) -> None:
    zone.set_record(APP, "A", ["104.16.132.229", "104.16.133.229"])  # Cloudflare's anycast

    found = check_cname(APP)

    assert found.verdict == Verdict.UNKNOWN
    assert found.code == "proxied_at_cloudflare"
    assert "set its proxy status to DNS only" in found.message


def test_addresses_outside_cloudflare_are_still_pointing_elsewhere(zone: DnsSandbox) -> None:
    zone.set_record(APP, "A", ["104.16.132.229", "93.184.215.14"])  # one of them is not

    found = check_cname(APP)

    assert (found.verdict, found.code) == (Verdict.POINTS_ELSEWHERE, "points_elsewhere")
