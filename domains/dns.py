"""The app's DNS checks: the only module that resolves DNS (house style: one choke point).

- `check_cname(hostname)`: does the customer's hostname point at our CNAME target
  (settings.DCV_CNAME_TARGET)? Follows the CNAME chain hop by hop and answers with a verdict and a
  sentence the customer can act on.
- `check_caa(hostname)`: do the hostname's CAA records (RFC 8659) let Cloudflare's certificate
  authorities issue for it?

Both ask the nameserver at settings.DNS_RESOLVER ("host:port", "host", "[v6]:port"; empty = the
system's resolver configuration), with settings.DNS_TIMEOUT seconds per query; settings are read
at call time. Neither raises for DNS trouble or bad input: "could not tell" is a verdict
(`Verdict.UNKNOWN`, `allows_cloudflare=None`) with the reason in its message. A malformed
DNS_RESOLVER setting is a deployment error and raises ImproperlyConfigured.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How many CNAME hops we follow before calling the chain too long. Real chains are 1-3 hops
# (customer -> CDN/provider -> us); resolvers give up around 8-16.
MAX_HOPS = 8
# Certificate authorities Cloudflare for SaaS issues from, as their CAA issuer domains
# (contract §5.3): Google Trust Services, Let's Encrypt, SSL.com.
CLOUDFLARE_CAS = ("pki.goog", "letsencrypt.org", "ssl.com")
# CAA tags a CA understands; a critical property with any other tag forbids issuance (RFC 8659
# §4.1). iodef only names a reporting address.
KNOWN_CAA_TAGS = frozenset({"issue", "issuewild", "iodef"})

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


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

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.POINTS_TO_US


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str
    value: str

    @property
    def critical(self) -> bool:
        return bool(self.flags & 0x80)

    def __str__(self) -> str:
        return f'{self.flags} {self.tag} "{self.value}"'


@dataclass(frozen=True)
class CaaCheck:
    """What `check_caa` found.

    `allows_cloudflare` is None when the lookup failed (CAs refuse to issue then too, but it may
    be temporary). `records` is the relevant CAA RRset (empty when there is none) and `found_at`
    the name that holds it. `cloudflare_cas` are those of Cloudflare's CAs the records allow.
    """

    hostname: str
    allows_cloudflare: bool | None
    records: tuple[CaaRecord, ...]
    found_at: str | None
    cloudflare_cas: tuple[str, ...]
    message: str


class _LookupFailed(Exception):
    """A query got no usable answer; `reason` completes "the DNS lookup of <name> ..."."""

    def __init__(self, name: dns.name.Name, reason: str) -> None:
        super().__init__(f"{name} {reason}")
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f"the DNS lookup of {_text(self.name)} {self.reason}"


@dataclass(frozen=True)
class _Lookup:
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


def _resolver() -> dns.resolver.Resolver:
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


def _failure_reason(exc: BaseException) -> str:
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


def _lookup(
    resolver: dns.resolver.Resolver, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> _Lookup:
    """One query; the resolver follows CNAMEs for types other than CNAME."""
    try:
        answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return _Lookup(None, nxdomain=True)
    except (dns.exception.DNSException, OSError) as exc:
        raise _LookupFailed(name, _failure_reason(exc)) from exc
    return _Lookup(answer.rrset, nxdomain=False)


def _addresses(resolver: dns.resolver.Resolver, name: dns.name.Name) -> tuple[str, ...]:
    found: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        rrset = _lookup(resolver, name, rdtype).rrset
        if rrset is not None:
            found.extend(sorted(rdata.to_text() for rdata in rrset))
    return tuple(found)


def _hostname(value: object) -> dns.name.Name | None:
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


def _invalid_message(value: object) -> str:
    if isinstance(value, str) and not value.strip():
        return "A hostname is required (not a valid hostname: it is empty)."
    return f"{value!r} is not a valid hostname. Enter a full hostname such as app.example.com."


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


def _join(items: tuple[str, ...] | list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


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
    target_name = _hostname(target_text)
    name = _hostname(hostname)
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
    target_shown = _text(target_name)
    if name is None:
        return CnameCheck(shown, target_shown, Verdict.UNKNOWN, (), (), _invalid_message(hostname))
    host = _text(name)

    def result(
        verdict: Verdict, chain: list[str], addresses: tuple[str, ...], message: str
    ) -> CnameCheck:
        return CnameCheck(host, target_shown, verdict, tuple(chain), addresses, message)

    resolver = _resolver()
    chain = [name]
    try:
        stop = _follow_chain(resolver, chain, target_name)
        names = [_text(n) for n in chain]
        if stop == "target":
            hops = f" (through {_join(names[1:-1])})" if len(names) > 2 else ""
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
        addresses = () if end_missing else _addresses(resolver, chain[-1])
        if addresses and set(addresses) <= set(_addresses(resolver, target_name)):
            return result(
                Verdict.POINTS_TO_US,
                names,
                addresses,
                f"{host} resolves to the addresses of {target_shown} (your DNS provider "
                "flattens the CNAME record).",
            )
        if len(chain) == 1 and _zone_of(resolver, name) == name:
            return result(Verdict.APEX, names, addresses, _apex_message(host, target_shown))
    except _LookupFailed as failure:
        return result(
            Verdict.UNKNOWN,
            [_text(n) for n in chain],
            (),
            f"We could not tell where {host} points: {failure}. This is often temporary; we "
            "will check again. If it persists, ask your DNS provider to check the domain's "
            "nameservers.",
        )
    if len(chain) == 1 and not addresses:
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
            f"{host} has no CNAME record; it resolves to {_join(addresses)}, not to "
            f"{target_shown}. Replace its A/AAAA records with a CNAME record pointing to "
            f"{target_shown}."
        )
    else:
        hops = f" (through {_join(names[1:-1])})" if len(names) > 2 else ""
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
    Raises _LookupFailed; `chain` then holds the names followed so far.
    """
    while True:
        current = chain[-1]
        if current == target:
            return "target"
        if len(chain) > MAX_HOPS:
            return "too_long"
        lookup = _lookup(resolver, current, dns.rdatatype.CNAME)
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


def _apex_message(host: str, target: str) -> str:
    return (
        f"{host} is the root (apex) of its DNS zone, where most DNS providers do not allow a "
        f"CNAME record. Use a subdomain such as app.{host} instead, or, if your DNS provider "
        f"offers CNAME flattening (ALIAS or ANAME records), point {host} to {target} that way."
    )


# -- CAA --------------------------------------------------------------------------------------


def _caa_issuer(value: str) -> tuple[str, bool]:
    """The issuer domain of an issue/issuewild value, and whether an account URI pins it.

    "letsencrypt.org; validationmethods=dns-01" -> ("letsencrypt.org", False); ";" -> ("", False).
    An `accounturi` (RFC 8657) names the customer's own ACME account, which Cloudflare's never is.
    """
    issuer, _, parameters = value.partition(";")
    pinned = any(p.split("=", 1)[0].strip().lower() == "accounturi" for p in parameters.split(";"))
    return issuer.strip().rstrip(".").lower(), pinned


def check_caa(hostname: str) -> CaaCheck:
    """Check whether the CAA records of `hostname` let Cloudflare's CAs issue a certificate.

    RFC 8659 §3: the relevant RRset is the first non-empty CAA RRset found querying the name,
    then its parent, and so on up to the top-level domain. Each query is an ordinary resolver
    query, so a CNAME at the name is followed and the alias target's CAA records count (that is
    what the RFC's lookup does; the stricter RFC 6844 alias rules are not applied). A hostname
    starting with "*." is checked against `issuewild` properties when any exist, else `issue`.
    Read-only; never raises for DNS trouble or bad input.
    """
    shown = hostname.strip().rstrip(".").lower() if isinstance(hostname, str) else ""
    wildcard = shown.startswith("*.")
    name = _hostname(shown[2:] if wildcard else shown)
    if name is None:
        return CaaCheck(shown, None, (), None, (), _invalid_message(hostname))
    host = ("*." if wildcard else "") + _text(name)
    resolver = _resolver()
    current = name
    rrset: dns.rrset.RRset | None = None
    try:
        while len(current) > 1:  # stop before the root, which holds no CAA records
            rrset = _lookup(resolver, current, dns.rdatatype.CAA).rrset
            if rrset is not None and len(rrset):
                break
            rrset = None
            current = current.parent()
    except _LookupFailed as failure:
        return CaaCheck(
            host,
            None,
            (),
            None,
            (),
            f"We could not check the CAA records of {host}: the CAA lookup for "
            f"{_text(failure.name)} {failure.reason}. Certificate authorities refuse to issue "
            "while CAA lookups fail, so this must be fixed at your DNS provider if it persists.",
        )
    if rrset is None:
        return CaaCheck(
            host,
            True,
            (),
            None,
            CLOUDFLARE_CAS,
            f"No CAA records restrict certificates for {host}, so Cloudflare's certificate "
            "authorities may issue one.",
        )
    records = tuple(
        sorted(
            (
                CaaRecord(
                    rdata.flags,
                    rdata.tag.decode("ascii", "replace").lower(),
                    rdata.value.decode("utf-8", "replace"),
                )
                for rdata in rrset
            ),
            key=lambda r: (r.tag, r.value, r.flags),
        )
    )
    return _caa_decision(host, _text(rrset.name), records, wildcard=wildcard)


def _caa_decision(
    host: str, found_at: str, records: tuple[CaaRecord, ...], *, wildcard: bool
) -> CaaCheck:
    def result(allowed: bool, cas: tuple[str, ...], message: str) -> CaaCheck:
        return CaaCheck(host, allowed, records, found_at, cas, message)

    critical = [r for r in records if r.critical and r.tag not in KNOWN_CAA_TAGS]
    if critical:
        shown = "; ".join(f"`{found_at} CAA {r}`" for r in critical)
        return result(
            False,
            (),
            f"The CAA record {shown} is marked critical with a tag certificate "
            "authorities do not understand, so none of them will issue. Remove it or clear "
            "its critical flag (128 → 0).",
        )
    tag = "issue"
    if wildcard and any(r.tag == "issuewild" for r in records):
        tag = "issuewild"
    properties = [r for r in records if r.tag == tag]
    if not properties:
        return result(
            True,
            CLOUDFLARE_CAS,
            f"The CAA records at {found_at} do not restrict which certificate authorities may "
            f"issue for {host}, so Cloudflare's may.",
        )
    allowed: list[str] = []
    others: list[str] = []
    pinned: list[str] = []
    for record in properties:
        issuer, has_account = _caa_issuer(record.value)
        if not issuer:
            continue
        if issuer in CLOUDFLARE_CAS and not has_account:
            allowed.append(issuer)
        elif issuer in CLOUDFLARE_CAS:
            pinned.append(issuer)
        else:
            others.append(issuer)
    cas = tuple(ca for ca in CLOUDFLARE_CAS if ca in allowed)
    if cas:
        return result(
            True,
            cas,
            f"The CAA records at {found_at} allow {_join(list(cas))}, which Cloudflare uses to "
            f"issue the certificate for {host}.",
        )
    add = "; ".join(f'`{found_at} CAA 0 {tag} "{ca}"`' for ca in CLOUDFLARE_CAS)
    if pinned:
        why = (
            f"Your CAA records at {found_at} allow {_join(sorted(set(pinned)))} only for your "
            "own ACME account (accounturi), which Cloudflare does not use"
        )
    elif others:
        why = f"Your CAA records at {found_at} only allow {_join(sorted(set(others)))}"
    else:
        why = f"Your CAA records at {found_at} forbid every certificate authority"
    scope = " for wildcard certificates" if tag == "issuewild" else ""
    return result(
        False,
        (),
        f"{why}{scope}, so Cloudflare cannot issue the certificate for {host}. Add these "
        f"records (at least one is needed): {add}.",
    )
