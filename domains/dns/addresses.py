"""A hostname's addresses (A and AAAA), and which addresses we never send anything to: for the
places a tenant chooses and our infrastructure connects to (webhook endpoints, origins)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from domains.dns.resolver import LookupFailed, addresses_of, configured_resolver, parse_name


@dataclass(frozen=True)
class Addresses:
    """What resolving a hostname gave: its addresses, or why there are none."""

    hostname: str
    addresses: tuple[str, ...]
    problem: str  # "" when addresses were found


def resolve_addresses(hostname: str) -> Addresses:
    """The A and AAAA addresses of `hostname`, from the configured nameserver (DNS_RESOLVER).
    Never raises for DNS trouble: `problem` says what went wrong, for a person."""
    name = parse_name(hostname)
    if name is None:
        return Addresses(hostname, (), f"{hostname} is not a hostname")
    try:
        found = addresses_of(configured_resolver(), name)
    except LookupFailed as failure:
        return Addresses(hostname, (), f"the DNS lookup of {hostname} {failure.reason}")
    if not found:
        return Addresses(hostname, (), f"{hostname} has no A or AAAA record")
    return Addresses(hostname, found, "")


# Shared address space (RFC 6598), which `is_global` alone does not make explicit in messages.
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
)


def address_refusal(address: str, *, allow_loopback: bool = False) -> str:
    """Why we never send traffic to `address` ("" when we may), in words for a person:
    private, loopback, link-local (where cloud metadata services live), carrier-grade NAT,
    multicast, reserved and documentation ranges, IPv4 and IPv6 (a v4-mapped v6 address is
    judged as the v4 address it carries)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_refusal(str(ip.ipv4_mapped), allow_loopback=allow_loopback)
    if ip.is_loopback:
        return "" if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if ip in CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if any(ip in network for network in DOCUMENTATION):
        return "a documentation address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return ""
