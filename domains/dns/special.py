"""Which addresses we never send traffic to, as data: IANA's IPv4 and IPv6 Special-Purpose
Address Registries (plus multicast and the deprecated site-local and 6to4-relay ranges), each
range with the words a person reads, and the addresses that carry an IPv4 address inside an
IPv6 one (v4-mapped, IPv4-compatible, 6to4, NAT64), judged by the address they carry.

One function decides (`refusal`), for webhook endpoints and origins alike, when they are saved,
before every delivery, at "Test origin" and for every address a name resolves to. Python's
`is_global` is only the last word: it does not look inside 6to4 or NAT64 addresses, and it
calls 192.0.0.0/24 and site-local fec0::/10 global in some versions.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (range, why it is refused), first match wins. Ranges of the registries marked "globally
# reachable" (AS112, AMT and the like) are not listed: nobody's app lives there, but nothing
# forbids it either, and `is_global` judges them.
REFUSED: Final[tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        # IPv4 (RFC 6890 and its updates)
        ("0.0.0.0/8", "a reserved address ('this network')"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata services live there)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment, not a host on the internet"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "the retired 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("255.255.255.255/32", "the broadcast address"),
        # IPv6 (RFC 6890 and its updates)
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (it leads into a private network)"),
        ("100::/64", "a discard-only address"),
        ("100:0:0:1::/64", "a dummy address"),
        ("2001::/32", "a Teredo tunnel address (it leads to whichever host runs the tunnel)"),
        ("2001::/23", "an IETF protocol assignment, not a host on the internet"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment-routing address"),
        ("fc00::/7", "a private address (unique local)"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address (deprecated, private)"),
        ("ff00::/8", "a multicast address"),
    )
)

IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if it is one of the forms that does: v4-mapped
    (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), 6to4 (2002:AABB:CCDD::/48) and the
    well-known NAT64 prefix (64:ff9b::a.b.c.d)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(address: str, *, allow_loopback: bool = False) -> str:
    """Why we never send traffic to `address` ("" when we may), in words for a person. An IPv6
    address carrying an IPv4 one is judged by what it carries ("6to4 for 127.0.0.1: a loopback
    address")."""
    ip = ipaddress.ip_address(address)
    inner = embedded_ipv4(ip)
    if inner is not None:
        mapped = isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None
        reason = refusal(str(inner), allow_loopback=allow_loopback and mapped)
        return f"{_form(ip)} for {inner}: {reason}" if reason else ""
    for network, reason in REFUSED:
        if ip.version == network.version and ip in network:
            if allow_loopback and ip.is_loopback:
                return ""
            return reason
    return "" if ip.is_global else "a reserved address"


def _form(ip: IPAddress) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "an IPv4-mapped address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        return "a 6to4 address"
    if ip in NAT64:
        return "a NAT64 address"
    return "an IPv4-compatible address"
