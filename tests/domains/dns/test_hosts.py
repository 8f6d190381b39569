"""Telling the DNS host from a zone's nameservers, the zone found by its SOA, against a real
loopback nameserver serving a zone for each host in the table."""

from __future__ import annotations

import re

import pytest

from domains.dns.detect import detect_host
from domains.dns.hosts import BY_KEY, HOSTS, Confidence, host_of
from sandbox.dns import DnsSandbox

# Nameservers each host hands out, as seen in its customers' zones (one or two per host).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "cloudflare": ("bob.ns.cloudflare.com", "lola.ns.cloudflare.com"),
    "godaddy": ("ns07.domaincontrol.com", "ns08.domaincontrol.com"),
    "namecheap": ("dns1.registrar-servers.com", "dns2.registrar-servers.com"),
    "route53": ("ns-1536.awsdns-00.co.uk", "ns-0.awsdns-00.com", "ns-512.awsdns-00.net"),
    "google": ("ns-cloud-a1.googledomains.com", "ns-cloud-a2.googledomains.com"),
    "squarespace": ("dns1.p01.squarespacedns.com",),
    "porkbun": ("curitiba.ns.porkbun.com", "fortaleza.ns.porkbun.com"),
    "gandi": ("ns-101-a.gandi.net", "ns-38-b.gandi.net"),
    "ovh": ("dns200.anycast.me", "ns200.anycast.me"),
    "ionos": ("ns1045.ui-dns.com", "ns1078.ui-dns.de"),
    "hover": ("ns1.hover.com", "ns2.hover.com"),
    "namecom": ("ns1qrt.name.com", "ns2cjw.name.com"),
    "digitalocean": ("ns1.digitalocean.com", "ns2.digitalocean.com"),
    "vercel": ("ns1.vercel-dns.com", "ns2.vercel-dns.com"),
    "nsone": ("dns1.p03.nsone.net", "dns2.p03.nsone.net"),
    "azure": ("ns1-01.azure-dns.com", "ns2-01.azure-dns.net", "ns4-01.azure-dns.info"),
    "dnsimple": ("ns1.dnsimple.com", "ns2.dnsimple-edge.net"),
    "hetzner": ("hydrogen.ns.hetzner.com", "helium.ns.hetzner.de"),
    "linode": ("ns1.linode.com", "ns2.linode.com"),
    "wix": ("ns0.wixdns.net", "ns1.wixdns.net"),
    "hostinger": ("ns1.dns-parking.com", "ns2.dns-parking.com"),
    "dynadot": ("ns1.dyna-ns.net", "ns2.dyna-ns.net"),
    "namesilo": ("ns1.dnsowl.com", "ns2.dnsowl.com"),
    "bluehost": ("ns1.bluehost.com", "ns2.bluehost.com"),
    "dnsmadeeasy": ("ns0.dnsmadeeasy.com", "ns1.dnsmadeeasy.com"),
    "constellix": ("ns11.constellix.com", "ns21.constellix.net"),
}


def zone_at(sandbox: DnsSandbox, zone: str, nameservers: tuple[str, ...]) -> None:
    sandbox.add_zone(zone)
    sandbox.set_record(zone, "NS", list(nameservers))


def test_the_table_knows_at_least_twenty_hosts_each_with_a_name_and_working_patterns() -> None:
    assert len(HOSTS) >= 20
    assert len(BY_KEY) == len(HOSTS)
    assert set(EXAMPLES) == set(BY_KEY)  # every host is tested below
    for host in HOSTS:
        assert host.name
        assert host.nameservers
        for pattern in host.nameservers:
            re.compile(pattern)
        assert host.help_url == "" or host.help_url.startswith("https://")
        # Unconfirmed forms keep the generic words.
        assert host.labels_confirmed or (host.name_label, host.value_label) == ("Name", "Value")


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_a_zone_served_by_a_hosts_nameservers_is_told_to_be_at_that_host(
    dns_sandbox: DnsSandbox, key: str
) -> None:
    zone_at(dns_sandbox, f"{key}-customer.dev", EXAMPLES[key])

    found = detect_host(f"app.{key}-customer.dev")

    assert found.host is not None
    assert found.host.key == key
    assert found.confidence == Confidence.ALL
    assert found.zone == f"{key}-customer.dev"
    assert found.nameservers == tuple(sorted(EXAMPLES[key]))
    assert found.problem == ""


def test_a_delegated_sub_zone_is_found_by_its_soa_not_guessed_from_the_public_suffix(
    dns_sandbox: DnsSandbox,
) -> None:
    zone_at(dns_sandbox, "client-example.dev", EXAMPLES["godaddy"])
    zone_at(dns_sandbox, "eu.client-example.dev", EXAMPLES["route53"])

    found = detect_host("shop.eu.client-example.dev")

    assert found.zone == "eu.client-example.dev"
    assert found.host is not None
    assert found.host.key == "route53"


def test_a_hostname_that_already_has_a_cname_is_still_placed_in_its_own_zone(
    dns_sandbox: DnsSandbox,
) -> None:
    zone_at(dns_sandbox, "pointed-example.dev", EXAMPLES["cloudflare"])
    dns_sandbox.cname("app.pointed-example.dev", "dcv.pcnaid.com")

    found = detect_host("app.pointed-example.dev")

    assert found.zone == "pointed-example.dev"
    assert found.host is not None
    assert found.host.key == "cloudflare"


def test_nameservers_of_two_hosts_give_the_majority_with_some_confidence() -> None:
    host, confidence = host_of(["bob.ns.cloudflare.com", "lola.ns.cloudflare.com", "ns1.hover.com"])

    assert host is not None
    assert host.key == "cloudflare"
    assert confidence == Confidence.SOME


def test_nameservers_of_no_known_host_are_an_unknown_host(dns_sandbox: DnsSandbox) -> None:
    zone_at(dns_sandbox, "selfhosted-example.dev", ("ns1.selfhosted-example.dev",))

    found = detect_host("app.selfhosted-example.dev")

    assert (found.host, found.confidence, found.problem) == (None, Confidence.NONE, "")
    assert found.nameservers == ("ns1.selfhosted-example.dev",)


def test_a_suffix_matches_on_a_label_boundary_only() -> None:
    assert host_of(["ns1.notdomaincontrol.com"]) == (None, Confidence.NONE)


def test_a_nameserver_that_does_not_answer_is_could_not_tell_never_a_guess(
    dns_sandbox: DnsSandbox, settings: object
) -> None:
    zone_at(dns_sandbox, "silent-example.dev", EXAMPLES["namecheap"])
    dns_sandbox.fail("silent-example.dev", "timeout", "NS")

    found = detect_host("app.silent-example.dev")

    assert found.host is None
    assert "timed out" in found.problem
