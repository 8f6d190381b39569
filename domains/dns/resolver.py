"""Resolving: the configured nameserver, one lookup with its failure reason, names."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class LookupFailed(Exception):
    """A query got no usable answer; `reason` completes "the DNS lookup of <name> ..."."""

    def __init__(self, name: dns.name.Name, reason: str) -> None:
        super().__init__(f"{name} {reason}")
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f"the DNS lookup of {name_text(self.name)} {self.reason}"


@dataclass(frozen=True)
class LookupResult:
    rrset: dns.rrset.RRset | None
    nxdomain: bool


# -- the resolver -------------------------------------------------------------------------------


def _nameserver_setting(value: str) -> tuple[str, int]:
    """Parse DNS_RESOLVER: "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53", or a host name."""
    host, port = value, 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ImproperlyConfigured(f"DNS_RESOLVER {value!r}: expected [address]:port.")
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        if not port_text.isdigit():
            raise ImproperlyConfigured(f"DNS_RESOLVER {value!r}: the port must be a number.")
        port = int(port_text)
    if not 0 < port < 65536:
        raise ImproperlyConfigured(f"DNS_RESOLVER {value!r}: port {port} is out of range.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # A host name such as "localhost": dnspython wants an address.
        try:
            host = str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][4][0])
        except (OSError, UnicodeError) as exc:
            raise ImproperlyConfigured(
                f"DNS_RESOLVER {value!r}: {host!r} is neither an IP address nor a known host."
            ) from exc
    return host, port


def configured_resolver() -> dns.resolver.Resolver:
    configured = str(settings.DNS_RESOLVER or "").strip()
    timeout = float(settings.DNS_TIMEOUT)
    if configured:
        host, port = _nameserver_setting(configured)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        try:
            resolver = dns.resolver.Resolver()  # the system's /etc/resolv.conf
        except dns.resolver.NoResolverConfiguration:
            # No nameserver at all: every query then fails as "could not tell", not an error.
            resolver = dns.resolver.Resolver(configure=False)
    # Each query gets DNS_TIMEOUT in all, retries included, so a dead nameserver costs one
    # timeout per check, not one per hop.
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None  # a check must see the customer's latest change
    return resolver


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return "timed out"
    if isinstance(exc, dns.resolver.NoNameservers):
        rcodes = [e[3] for e in exc.kwargs.get("errors", []) if isinstance(e[3], str)]
        if "SERVFAIL" in rcodes:
            return "failed (SERVFAIL: the domain's DNS servers gave no valid answer)"
        if "REFUSED" in rcodes:
            return "was refused by the DNS server (REFUSED)"
        if rcodes:
            return f"failed ({rcodes[0]})"
        return "failed: no DNS server could be reached (is one configured?)"
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return "failed: the name is too long after a DNAME substitution"
    return f"failed ({exc})"


def query_once(
    resolver: dns.resolver.Resolver, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> LookupResult:
    """One query; the resolver follows CNAMEs for types other than CNAME."""
    try:
        answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return LookupResult(None, nxdomain=True)
    except (dns.exception.DNSException, OSError) as exc:
        raise LookupFailed(name, failure_reason(exc)) from exc
    return LookupResult(answer.rrset, nxdomain=False)


def addresses_of(resolver: dns.resolver.Resolver, name: dns.name.Name) -> tuple[str, ...]:
    found: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        rrset = query_once(resolver, name, rdtype).rrset
        if rrset is not None:
            found.extend(sorted(rdata.to_text() for rdata in rrset))
    return tuple(found)


def parse_name(value: object) -> dns.name.Name | None:
    """The hostname as an absolute lower-case name, or None if it is not a hostname.

    Internationalised names are accepted and checked in their IDNA (xn--) form.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip(".").lower()
    if not text or len(text) > 253:
        return None
    try:
        name = dns.name.from_text(text)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    labels = [label.decode("ascii", "replace") for label in name.labels[:-1]]
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        return None
    if labels[-1].isdigit():  # an IP address, not a host name
        return None
    return name.canonicalize()


def invalid_name_message(value: object) -> str:
    if isinstance(value, str) and not value.strip():
        return "A hostname is required (not a valid hostname: it is empty)."
    return f"{value!r} is not a valid hostname. Enter a full hostname such as app.example.com."


def name_text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


def join_names(items: tuple[str, ...] | list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
