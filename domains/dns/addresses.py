"""A hostname's addresses (A and AAAA), and which addresses we never send anything to: for the
places a tenant chooses and our infrastructure connects to (webhook endpoints, origins)."""

from __future__ import annotations

from dataclasses import dataclass

from domains.dns.resolver import LookupFailed, addresses_of, configured_resolver, parse_name
from domains.dns.special import refusal


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


def address_refusal(address: str, *, allow_loopback: bool = False) -> str:
    """Why we never send traffic to `address` ("" when we may), in words for a person: every
    range of IANA's special-purpose registries that is not reachable on the internet (private,
    loopback, link-local where cloud metadata lives, carrier-grade NAT, documentation, ...),
    and an IPv6 address carrying an IPv4 one judged by what it carries (`domains.dns.special`).
    """
    return refusal(address, allow_loopback=allow_loopback)
