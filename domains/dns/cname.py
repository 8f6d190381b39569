"""Does the customer's hostname point at our CNAME target?"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
from django.conf import settings

from domains.dns.resolver import (
    LookupFailed,
    addresses_of,
    configured_resolver,
    invalid_name_message,
    join_names,
    name_text,
    parse_name,
    query_once,
)

# How many CNAME hops we follow before calling the chain too long. Real chains are 1-3 hops
# (customer -> CDN/provider -> us); resolvers give up around 8-16.
MAX_HOPS = 8


class Verdict(StrEnum):
    POINTS_TO_US = "points_to_us"
    POINTS_ELSEWHERE = "points_elsewhere"
    MISSING = "missing"
    APEX = "apex"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CnameCheck:
    """What `check_cname` found.

    `chain` is every name followed, starting with the hostname itself and ending where the CNAME
    chain stopped (the target, when it reaches us). `addresses` are the A/AAAA addresses the end
    of the chain has, when they were looked up (no CNAME to the target).
    """

    hostname: str
    target: str
    verdict: Verdict
    chain: tuple[str, ...]
    addresses: tuple[str, ...]
    message: str
    # The verdict, or the misconfiguration behind it (`MISTAKES`), each with its own sentence.
    code: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.POINTS_TO_US


# The classic mistakes of a DNS host's record form, told apart from a plain "missing" or
# "elsewhere": the host added the zone to the name, or to the value, a second time.
ZONE_APPENDED_TO_NAME = "zone_appended_to_name"
ZONE_APPENDED_TO_VALUE = "zone_appended_to_value"
# A record proxied at Cloudflare (orange cloud) answers with Cloudflare's own addresses and no
# CNAME: from outside, whether it points to us cannot be seen.
PROXIED_AT_CLOUDFLARE = "proxied_at_cloudflare"
MISTAKES = (ZONE_APPENDED_TO_NAME, ZONE_APPENDED_TO_VALUE, PROXIED_AT_CLOUDFLARE)

# Cloudflare's published address ranges (https://www.cloudflare.com/ips-v4 and /ips-v6).
CLOUDFLARE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
        "141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
        "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
        "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
        "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
        "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
    )
)  # fmt: skip


def at_cloudflare(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in CLOUDFLARE_NETWORKS)


# -- CNAME ------------------------------------------------------------------------------------


def check_cname(hostname: str, target: str | None = None) -> CnameCheck:
    """Check that `hostname` points at `target` (default settings.DCV_CNAME_TARGET).

    Follows the CNAME chain one query per hop (at most MAX_HOPS), so loops and dangling chains
    are reported precisely. A name without a CNAME whose A/AAAA addresses are all among the
    target's also counts as pointing to us: DNS providers that "flatten" CNAMEs answer that way.
    Read-only and safe to call concurrently; never raises for DNS trouble or bad input.
    """
    target_text = str(target if target is not None else settings.DCV_CNAME_TARGET)
    shown = str(hostname).strip().rstrip(".").lower() if isinstance(hostname, str) else ""
    target_name = parse_name(target_text)
    name = parse_name(hostname)
    if target_name is None:
        return CnameCheck(
            shown,
            target_text,
            Verdict.UNKNOWN,
            (),
            (),
            f"We could not check {shown or 'this hostname'}: our CNAME target "
            f"{target_text!r} is not a valid hostname (check the DCV_CNAME_TARGET setting).",
        )
    target_shown = name_text(target_name)
    if name is None:
        return CnameCheck(
            shown, target_shown, Verdict.UNKNOWN, (), (), invalid_name_message(hostname)
        )
    host = name_text(name)

    def result(
        verdict: Verdict,
        chain: list[str],
        addresses: tuple[str, ...],
        message: str,
        code: str = "",
    ) -> CnameCheck:
        return CnameCheck(
            host, target_shown, verdict, tuple(chain), addresses, message, code or str(verdict)
        )

    resolver = configured_resolver()
    chain = [name]
    try:
        stop = _follow_chain(resolver, chain, target_name)
        names = [name_text(n) for n in chain]
        if stop == "target":
            hops = f" (through {join_names(names[1:-1])})" if len(names) > 2 else ""
            return result(
                Verdict.POINTS_TO_US, names, (), f"{host} points to {target_shown}{hops}."
            )
        if stop == "loop":
            loop = " → ".join([*names[names.index(names[-1]) :]])
            return result(
                Verdict.UNKNOWN,
                names[:-1],
                (),
                f"We could not tell where {host} points: its CNAME records form a loop "
                f"({loop}). Change the CNAME record of {host} to {target_shown}.",
            )
        if stop == "too_long":
            return result(
                Verdict.UNKNOWN,
                names,
                (),
                f"{host} leads through more than {MAX_HOPS} CNAME records without reaching "
                f"{target_shown}. Point {host} directly to {target_shown} with one CNAME "
                "record.",
            )
        end_missing = stop == "nxdomain"
        addresses = () if end_missing else addresses_of(resolver, chain[-1])
        if addresses and set(addresses) <= set(addresses_of(resolver, target_name)):
            return result(
                Verdict.POINTS_TO_US,
                names,
                addresses,
                f"{host} resolves to the addresses of {target_shown} (your DNS provider "
                "flattens the CNAME record).",
            )
        if len(chain) == 1 and addresses and all(at_cloudflare(a) for a in addresses):
            return result(
                Verdict.UNKNOWN,
                names,
                addresses,
                f"{host} answers with Cloudflare's addresses and no CNAME record: its record is "
                "proxied at Cloudflare (the orange cloud), so nobody outside can see where it "
                f"points. That works if it points to {target_shown} (Cloudflare calls it O2O); "
                "to let us and others check it, set its proxy status to DNS only.",
                PROXIED_AT_CLOUDFLARE,
            )
        if len(chain) == 1 and _zone_of(resolver, name) == name:
            return result(Verdict.APEX, names, addresses, _apex_message(host, target_shown))
    except LookupFailed as failure:
        return result(
            Verdict.UNKNOWN,
            [name_text(n) for n in chain],
            (),
            f"We could not tell where {host} points: {failure}. This is often temporary; we "
            "will check again. If it persists, ask your DNS provider to check the domain's "
            "nameservers.",
        )
    if len(chain) == 1 and not addresses:
        doubled = _zone_appended_to_name(resolver, name)
        if doubled is not None:
            doubled_name, zone = doubled
            relative = host.removesuffix("." + zone)
            return result(
                Verdict.MISSING,
                names,
                (),
                f"{host} has no record, but {doubled_name} has one: your DNS host added {zone} "
                f"to the name you entered. Change that record's name to {relative} (only the "
                f"part before {zone}).",
                ZONE_APPENDED_TO_NAME,
            )
        what = "does not exist in DNS yet" if end_missing else "has no CNAME, A or AAAA record yet"
        return result(
            Verdict.MISSING,
            names,
            (),
            f"{host} {what}. Create a CNAME record for {host} with the value {target_shown}. "
            "If you just created it, DNS changes can take a few minutes to show up.",
        )
    if len(chain) == 1:
        message = (
            f"{host} has no CNAME record; it resolves to {join_names(addresses)}, not to "
            f"{target_shown}. Replace its A/AAAA records with a CNAME record pointing to "
            f"{target_shown}."
        )
    elif (
        names[1].startswith(target_shown + ".")
        and _zone_text(resolver, name) == names[1][len(target_shown) + 1 :]
    ):
        zone = names[1][len(target_shown) + 1 :]
        return result(
            Verdict.POINTS_ELSEWHERE,
            names,
            addresses,
            f"{host} points to {names[1]}: your DNS host added {zone} to the value you "
            f"entered. Change the value to {target_shown}; at most hosts, ending it with a dot "
            f"({target_shown}.) keeps the domain from being added.",
            ZONE_APPENDED_TO_VALUE,
        )
    else:
        hops = f" (through {join_names(names[1:-1])})" if len(names) > 2 else ""
        if end_missing:
            state = " (a name that does not exist)"
        elif not addresses:
            state = " (a name with no addresses)"
        else:
            state = ""
        message = (
            f"{host} points to {names[-1]}{hops}{state}, not to {target_shown}. "
            f"Change the CNAME record's value to {target_shown}."
        )
    return result(Verdict.POINTS_ELSEWHERE, names, addresses, message)


def _follow_chain(
    resolver: dns.resolver.Resolver, chain: list[dns.name.Name], target: dns.name.Name
) -> str:
    """Extend `chain` one CNAME query per hop; say why it stopped.

    "target" (reached it), "end" (the last name has no CNAME), "nxdomain" (the last name does
    not exist), "loop" (the last name repeats an earlier one), "too_long" (MAX_HOPS followed).
    Raises LookupFailed; `chain` then holds the names followed so far.
    """
    while True:
        current = chain[-1]
        if current == target:
            return "target"
        if len(chain) > MAX_HOPS:
            return "too_long"
        lookup = query_once(resolver, current, dns.rdatatype.CNAME)
        if lookup.nxdomain:
            return "nxdomain"
        if lookup.rrset is None:
            return "end"
        next_name = lookup.rrset[0].target.canonicalize()
        seen = next_name in chain
        chain.append(next_name)
        if seen:
            return "loop"


def _zone_of(resolver: dns.resolver.Resolver, name: dns.name.Name) -> dns.name.Name | None:
    """The zone holding `name`, or None if it cannot be found (no root SOA, lookup failed)."""
    try:
        return dns.resolver.zone_for_name(name, resolver=resolver, lifetime=resolver.lifetime)
    except (dns.exception.DNSException, OSError):
        # Not knowing the zone only costs the more specific apex advice.
        return None


def _zone_text(resolver: dns.resolver.Resolver, name: dns.name.Name) -> str:
    zone = _zone_of(resolver, name)
    return name_text(zone) if zone is not None else ""


def _zone_appended_to_name(
    resolver: dns.resolver.Resolver, name: dns.name.Name
) -> tuple[str, str] | None:
    """(the doubled name, the zone) when `name` has no record but `name` + its zone has one:
    the record was created as app.client.com.client.com."""
    zone = _zone_of(resolver, name)
    if zone is None or zone == name:
        return None
    doubled = dns.name.Name(name.labels[:-1] + zone.labels)
    try:
        found = query_once(resolver, doubled, dns.rdatatype.CNAME).rrset is not None or bool(
            addresses_of(resolver, doubled)
        )
    except (LookupFailed, dns.name.NameTooLong):
        return None
    return (name_text(doubled), name_text(zone)) if found else None


def _apex_message(host: str, target: str) -> str:
    return (
        f"{host} is the root (apex) of its DNS zone, where most DNS providers do not allow a "
        f"CNAME record. Use a subdomain such as app.{host} instead, or, if your DNS provider "
        f"offers CNAME flattening (ALIAS or ANAME records), point {host} to {target} that way."
    )
