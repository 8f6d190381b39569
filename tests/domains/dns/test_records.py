"""Every record a domain needs, checked at the zone's own nameservers and at the resolver, each
misconfiguration with its own code and a sentence naming the record (real loopback DNS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from domains.dns import RecordCheck, Wanted, check_records
from domains.dns.hosts import BY_KEY
from sandbox.dns import DnsSandbox

ZONE = "client-records.dev"
APP = f"app.{ZONE}"
TARGET = "dcv.pcnaid.com"
TXT_NAME = f"_cf-custom-hostname.{APP}"


@pytest.fixture
def zone(dns_sandbox: DnsSandbox) -> DnsSandbox:
    """The customer's zone, its nameserver served by the sandbox (authoritative and public)."""
    dns_sandbox.add_zone(ZONE)
    dns_sandbox.set_record(f"ns1.{ZONE}", "A", dns_sandbox.host)
    return dns_sandbox


@pytest.fixture
def authoritative(zone: DnsSandbox, settings: Settings) -> Iterator[DnsSandbox]:
    """A second server as the zone's own nameserver, holding what the host has saved, while
    the first one plays the public resolver with what it has cached."""
    server = DnsSandbox(default_target=TARGET).start()
    server.add_zone(ZONE)
    settings.DNS_AUTHORITATIVE_PORT = server.port
    yield server
    server.stop()


def cname_row(*wanted: Wanted, host: str = "") -> RecordCheck:
    checks = check_records(APP, wanted or [Wanted(APP, "CNAME", TARGET)], host=BY_KEY.get(host))
    return checks[0]


def test_a_cname_to_our_target_matches_at_the_host_and_at_the_resolver(zone: DnsSandbox) -> None:
    zone.cname(APP, TARGET)

    row = cname_row()

    assert (row.code, row.match) == ("ok", True)
    assert row.found == (TARGET,)
    assert row.authoritative_found == (TARGET,)
    assert row.as_dict()["expected"] == TARGET


def test_a_record_saved_at_the_host_but_not_yet_seen_publicly_is_propagating_with_its_wait(
    zone: DnsSandbox, authoritative: DnsSandbox
) -> None:
    authoritative.cname(APP, TARGET)
    zone.cname(APP, "old-target.example.net", ttl=1800)

    row = cname_row(host="namecheap")

    assert (row.code, row.match) == ("propagating", False)
    assert row.found == ("old-target.example.net",)
    assert row.authoritative_found == (TARGET,)
    assert "Saved at Namecheap" in row.message
    assert "up to 30 minutes" in row.message


def test_a_missing_cname_is_missing_at_both(zone: DnsSandbox) -> None:
    row = cname_row()

    assert (row.code, row.match) == ("missing", False)
    assert row.found == ()
    assert row.authoritative_found == ()
    assert APP in row.message


def test_a_cname_elsewhere_names_what_it_points_at(zone: DnsSandbox) -> None:
    zone.cname(APP, "shop.example.net")

    row = cname_row()

    assert (row.code, row.match) == ("points_elsewhere", False)
    assert row.found == ("shop.example.net",)
    assert "shop.example.net" in row.message


def test_address_records_where_the_cname_goes_are_conflicting_records(zone: DnsSandbox) -> None:
    zone.set_record(APP, "A", "203.0.113.7")

    row = cname_row()

    assert (row.code, row.match) == ("conflicting_records", False)
    assert row.found == ("A 203.0.113.7",)
    assert row.authoritative_found == ("A 203.0.113.7",)
    assert "delete its A and AAAA records" in row.message


def test_a_record_made_at_the_name_with_the_zone_added_twice_says_so(zone: DnsSandbox) -> None:
    zone.cname(f"{APP}.{ZONE}", TARGET)

    row = cname_row()

    assert row.code == "zone_appended_to_name"
    assert f"{APP}.{ZONE}" in row.message


def test_a_value_with_the_zone_added_says_so(zone: DnsSandbox) -> None:
    zone.cname(APP, f"{TARGET}.{ZONE}")

    row = cname_row()

    assert row.code == "zone_appended_to_value"
    assert f"{TARGET}.{ZONE}" in row.message


def test_a_proxied_record_at_cloudflare_cannot_be_told(zone: DnsSandbox) -> None:
    zone.set_record(APP, "A", "104.16.1.1")

    row = cname_row()

    assert (row.code, row.match) == ("proxied_at_cloudflare", None)
    assert "orange cloud" in row.message


def test_a_cname_at_the_apex_is_told_in_the_hosts_words(zone: DnsSandbox) -> None:
    apex = check_records(ZONE, [Wanted(ZONE, "CNAME", TARGET)], host=BY_KEY["cloudflare"])[0]
    plain = check_records(ZONE, [Wanted(ZONE, "CNAME", TARGET)], host=BY_KEY["godaddy"])[0]

    assert apex.code == "cname_at_apex"
    assert "Cloudflare flattens a CNAME record there" in apex.message
    assert plain.code == "cname_at_apex"
    assert f"www.{ZONE}" in plain.message


def test_a_wildcard_answering_for_the_name_is_told_apart_from_a_record_of_its_own(
    zone: DnsSandbox,
) -> None:
    zone.cname(f"*.{ZONE}", "parked.porkbun.example")

    row = cname_row()

    assert (row.code, row.match) == ("wildcard_shadow", False)
    assert f"*.{ZONE}" in row.message
    assert APP in row.message


def test_a_timeout_is_could_not_tell_never_missing(zone: DnsSandbox, settings: Settings) -> None:
    settings.DNS_TIMEOUT = 0.3
    zone.fail(APP, "timeout")

    row = cname_row()

    assert (row.code, row.match) == ("unknown", None)
    assert "missing" not in row.message


def test_a_broken_dnssec_chain_is_its_own_cause(zone: DnsSandbox) -> None:
    zone.fail(ZONE, "dnssec")

    row = cname_row()

    assert (row.code, row.match) == ("dnssec_broken", None)
    assert ZONE in row.message
    assert "DS record" in row.message


def test_the_txt_record_is_checked_and_an_old_value_is_stale(zone: DnsSandbox) -> None:
    zone.cname(APP, TARGET)
    wanted = [Wanted(APP, "CNAME", TARGET), Wanted(TXT_NAME, "TXT", "new-token")]
    zone.set_record(TXT_NAME, "TXT", "old-token")

    stale = check_records(APP, wanted)[1]
    zone.set_record(TXT_NAME, "TXT", ["old-token", "new-token"])
    both = check_records(APP, wanted)[1]
    zone.set_record(TXT_NAME, "TXT", "new-token")
    right = check_records(APP, wanted)[1]
    zone.delete_record(TXT_NAME)
    missing = check_records(APP, wanted)[1]

    assert (stale.code, stale.match, stale.found) == ("stale_txt", False, ("old-token",))
    assert "Replace it with new-token" in stale.message
    assert (both.code, both.match) == ("stale_txt", True)
    assert "delete the old TXT record" in both.message
    assert (right.code, right.match) == ("ok", True)
    assert (missing.code, missing.match) == ("missing", False)
    assert TXT_NAME in missing.message


def test_apex_address_records_are_compared_as_a_set(zone: DnsSandbox) -> None:
    wanted = [Wanted(ZONE, "A", "192.0.2.1"), Wanted(ZONE, "A", "192.0.2.2")]
    zone.set_record(ZONE, "A", ["192.0.2.2", "192.0.2.1"])
    right = check_records(ZONE, wanted)[0]
    zone.set_record(ZONE, "A", ["192.0.2.1", "198.51.100.9"])
    wrong = check_records(ZONE, wanted)[0]

    assert (right.type, right.code, right.match) == ("A", "ok", True)
    assert (wrong.code, wrong.match) == ("wrong_address", False)
    assert "198.51.100.9" in wrong.message


def test_caa_that_excludes_cloudflares_authorities_blocks_and_a_failing_lookup_is_its_own(
    zone: DnsSandbox,
) -> None:
    zone.cname(APP, TARGET)
    zone.set_record(ZONE, "CAA", '0 issue "digicert.com"')
    blocks = check_records(APP, [Wanted(APP, "CNAME", TARGET)])[-1]
    zone.delete_record(ZONE, "CAA")
    zone.fail(ZONE, "servfail", "CAA")
    failing = check_records(APP, [Wanted(APP, "CNAME", TARGET)])[-1]

    assert (blocks.type, blocks.code, blocks.match) == ("CAA", "caa_blocks", False)
    assert blocks.found == ('0 issue "digicert.com"',)
    assert "digicert.com" in blocks.message
    assert (failing.code, failing.match) == ("caa_lookup_failed", None)


def test_a_zone_whose_nameservers_cannot_be_reached_still_gets_the_public_answer(
    zone: DnsSandbox,
) -> None:
    zone.delete_record(f"ns1.{ZONE}")  # the nameserver's name has no address
    zone.cname(APP, TARGET)

    row = cname_row()

    assert (row.code, row.match) == ("ok", True)
    assert row.authoritative_found is None
