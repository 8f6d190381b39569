"""Which DNS host serves a hostname's zone: the zone found by walking up to its SOA (a
delegated sub-zone is its own zone, which a public-suffix guess would miss), its NS records,
and the host they belong to (`domains.dns.hosts`)."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from domains.dns.hosts import Confidence, DnsHost, host_of
from domains.dns.resolver import (
    LookupFailed,
    configured_resolver,
    failure_reason,
    invalid_name_message,
    name_text,
    parse_name,
    query_once,
)


@dataclass(frozen=True)
class HostDetection:
    zone: str  # "client.com" for app.client.com; "" when it could not be found
    nameservers: tuple[str, ...]
    host: DnsHost | None
    confidence: Confidence
    # Why the host could not be told ("" when the lookups answered): never "missing".
    problem: str = ""


def detect_host(hostname: str) -> HostDetection:
    """The DNS host of `hostname`'s zone. Never raises for DNS trouble: a failed lookup is
    "could not tell", with the reason in `problem`."""
    name = parse_name(hostname)
    if name is None:
        return HostDetection("", (), None, Confidence.NONE, invalid_name_message(hostname))
    resolver = configured_resolver()
    try:
        zone = dns.resolver.zone_for_name(name, resolver=resolver)
    except dns.resolver.NoRootSOA:
        return HostDetection("", (), None, Confidence.NONE, "no DNS zone holds this name")
    except (dns.exception.DNSException, OSError) as exc:
        reason = f"the DNS lookup of {name_text(name)}'s zone {failure_reason(exc)}"
        return HostDetection("", (), None, Confidence.NONE, reason)
    try:
        rrset = query_once(resolver, zone, dns.rdatatype.NS).rrset
    except LookupFailed as failed:
        return HostDetection(name_text(zone), (), None, Confidence.NONE, str(failed))
    nameservers = tuple(
        sorted(
            name_text(rdata.target).lower()
            for rdata in (rrset or ())
            if isinstance(getattr(rdata, "target", None), dns.name.Name)
        )
    )
    host, confidence = host_of(nameservers)
    return HostDetection(name_text(zone), nameservers, host, confidence)
