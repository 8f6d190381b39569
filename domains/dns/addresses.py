"""A hostname's addresses (A and AAAA), for the places we connect to: webhook endpoints."""

from __future__ import annotations

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
