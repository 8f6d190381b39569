"""Every record a domain needs, checked: expected, every value found, and a verdict.

Each record is asked twice. First at the zone's own nameservers (authoritative, recursion off):
they answer what the DNS host holds seconds after the person saves. Then at the configured
resolver (settings.DNS_RESOLVER, as visitors and the certificate authority see it). When the
two disagree the record is "saved, still propagating", with the old answer's TTL as the wait.
A lookup that times out or fails reads "could not tell", never "missing".

Each misconfiguration has its own code (`CODES`) and a sentence naming the record. The
authoritative servers are reached at settings.DNS_AUTHORITATIVE_PORT (53; the sandbox and the
tests serve zones on a loopback port). Never raises for DNS trouble.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
from django.conf import settings

from domains.dns.caa import check_caa
from domains.dns.cname import (
    PROXIED_AT_CLOUDFLARE,
    ZONE_APPENDED_TO_NAME,
    ZONE_APPENDED_TO_VALUE,
    CnameCheck,
    Verdict,
    check_cname,
)
from domains.dns.hosts import Apex, DnsHost
from domains.dns.resolver import (
    LookupFailed,
    configured_resolver,
    name_text,
    parse_name,
    query_once,
)

# The verdicts of one record, each with its own sentence.
OK = "ok"
FLATTENED = "flattened"
PROPAGATING = "propagating"
MISSING = "missing"
POINTS_ELSEWHERE = "points_elsewhere"
CONFLICTING_RECORDS = "conflicting_records"
CNAME_AT_APEX = "cname_at_apex"
WILDCARD_SHADOW = "wildcard_shadow"
STALE_TXT = "stale_txt"
WRONG_ADDRESS = "wrong_address"
CAA_BLOCKS = "caa_blocks"
CAA_LOOKUP_FAILED = "caa_lookup_failed"
DNSSEC_BROKEN = "dnssec_broken"
UNKNOWN = "unknown"
CODES = (
    OK,
    FLATTENED,
    PROPAGATING,
    MISSING,
    POINTS_ELSEWHERE,
    CONFLICTING_RECORDS,
    ZONE_APPENDED_TO_NAME,
    ZONE_APPENDED_TO_VALUE,
    PROXIED_AT_CLOUDFLARE,
    CNAME_AT_APEX,
    WILDCARD_SHADOW,
    STALE_TXT,
    WRONG_ADDRESS,
    CAA_BLOCKS,
    CAA_LOOKUP_FAILED,
    DNSSEC_BROKEN,
    UNKNOWN,
)
CLOUDFLARE_CAS_TEXT = "letsencrypt.org, pki.goog or ssl.com"


@dataclass(frozen=True)
class Wanted:
    """A record the domain needs: its full name, type (CNAME, TXT, A, AAAA) and value."""

    name: str
    type: str
    value: str
    required: bool = True


@dataclass(frozen=True)
class RecordCheck:
    name: str
    type: str
    expected: str
    # What the public resolver answers: values of `type`; where a CNAME was expected and the
    # name holds addresses instead, those, each after its type ("A 192.0.2.1").
    found: tuple[str, ...]
    # What the zone's own nameservers answer; None when they could not be asked.
    authoritative_found: tuple[str, ...] | None
    match: bool | None  # None: could not tell
    code: str
    message: str
    required: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "expected": self.expected,
            "found": list(self.found),
            "authoritative_found": (
                None if self.authoritative_found is None else list(self.authoritative_found)
            ),
            "match": self.match,
            "code": self.code,
            "message": self.message,
            "required": self.required,
        }


@dataclass(frozen=True)
class _Answer:
    values: tuple[str, ...]
    ttl: int  # of the answer, or the zone's negative-caching time for "no such record"


@dataclass
class _Budget:
    """One check's time: every lookup shares it, so a dead nameserver or resolver costs at
    most DNS_CHECK_SECONDS in all, never a timeout per record."""

    deadline: float
    timeout: float

    @classmethod
    def start(cls) -> _Budget:
        return cls(
            time.monotonic() + float(settings.DNS_CHECK_SECONDS), float(settings.DNS_TIMEOUT)
        )

    def lifetime(self) -> float:
        """Seconds the next lookup may take (0: none left)."""
        remaining = self.deadline - time.monotonic()
        return max(0.0, min(self.timeout, remaining))


@dataclass
class _Public:
    """The configured resolver (what visitors and the CA see), within the budget; after a
    timeout it is not asked again in this check."""

    resolver: dns.resolver.Resolver
    budget: _Budget
    dead: bool = False

    def _ready(self) -> bool:
        lifetime = self.budget.lifetime()
        if self.dead or lifetime <= 0:
            return False
        self.resolver.timeout = self.resolver.lifetime = lifetime
        return True

    def ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Answer | None:
        """The answer (no values: none there), or None when it could not be told."""
        if not self._ready():
            return None
        try:
            answer = self.resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return _Answer((), 0)
        except dns.exception.Timeout:
            self.dead = True
            return None
        except (dns.exception.DNSException, OSError):
            return None
        response = answer.response
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        if rrset is None:
            return _Answer((), 0)
        return _Answer(_texts(rrset), rrset.ttl)

    def query(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        """One lookup's RRset for the authority's set-up; raises LookupFailed."""
        if not self._ready():
            raise LookupFailed(name, "timed out")
        try:
            return query_once(self.resolver, name, rdtype).rrset
        except LookupFailed as failed:
            self.dead = self.dead or failed.reason == "timed out"
            raise

    def zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        if not self._ready():
            return None
        try:
            return dns.resolver.zone_for_name(
                name, resolver=self.resolver, lifetime=self.resolver.lifetime
            )
        except dns.exception.Timeout:
            self.dead = True
        except (dns.exception.DNSException, OSError):
            pass
        return None

    def dnssec_broken(self, name: dns.name.Name) -> bool:
        """A lookup failed: does it answer with DNSSEC checking off (the CD flag)? Then the
        domain's DNSSEC chain is what fails."""
        if not self._ready():
            return False
        self.resolver.flags = dns.flags.RD | dns.flags.CD
        try:
            query_once(self.resolver, name, dns.rdatatype.SOA)
        except LookupFailed:
            return False
        finally:
            self.resolver.flags = None
        return True


@dataclass
class _Authority:
    """The zone's own nameservers, asked with recursion off, within the budget; after no
    server answered one query they are not asked again in this check."""

    zone: dns.name.Name | None
    addresses: list[str]
    port: int
    budget: _Budget
    negative_ttl: int = 0
    dead: bool = False
    cache: dict[tuple[dns.name.Name, int], _Answer | None] = field(default_factory=dict)

    def ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Answer | None:
        """The answer (no values: none there), or None when no server could be asked."""
        key = (name, int(rdtype))
        if key not in self.cache:
            self.cache[key] = self._ask(name, rdtype)
        return self.cache[key]

    def _ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Answer | None:
        if self.dead or not self.addresses:
            return None
        query = dns.message.make_query(name, rdtype)
        query.flags &= ~dns.flags.RD
        for address in self.addresses:
            lifetime = self.budget.lifetime()
            if lifetime <= 0:
                break
            try:
                response, _ = dns.query.udp_with_fallback(
                    query, address, timeout=lifetime, port=self.port
                )
            except (dns.exception.DNSException, OSError):
                continue
            rcode = response.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return _Answer((), self.negative_ttl)
            if rcode != dns.rcode.NOERROR:
                continue
            rrset = next(
                (r for r in response.answer if r.name == name and r.rdtype == rdtype), None
            )
            if rrset is None:
                return _Answer((), self.negative_ttl)
            return _Answer(_texts(rrset), rrset.ttl)
        self.dead = True
        return None


def _texts(rrset: dns.rrset.RRset) -> tuple[str, ...]:
    values: list[str] = []
    for rdata in rrset:
        if rdata.rdtype == dns.rdatatype.TXT:
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        elif rdata.rdtype == dns.rdatatype.CNAME:
            values.append(name_text(rdata.target).lower())
        else:
            values.append(rdata.to_text())
    return tuple(sorted(values))


def _authority(name: dns.name.Name, public: _Public) -> _Authority:
    """The zone of `name` and the addresses of (at most two of) its nameservers."""
    port = int(settings.DNS_AUTHORITATIVE_PORT)
    zone = public.zone_of(name)
    if zone is None:
        return _Authority(None, [], port, public.budget)
    try:
        ns = public.query(zone, dns.rdatatype.NS)
        soa = public.query(zone, dns.rdatatype.SOA)
    except LookupFailed:
        return _Authority(zone, [], port, public.budget)
    addresses: list[str] = []
    for nameserver in sorted(r.target for r in (ns or ()))[:2]:
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                found = public.query(nameserver, rdtype)
            except LookupFailed:
                continue
            addresses += [r.to_text() for r in (found or ())]
    negative = min(soa.ttl, soa[0].minimum) if soa else 0
    return _Authority(zone, addresses, port, public.budget, negative_ttl=negative)


def _wait(seconds: int) -> str:
    if seconds <= 90:
        return "about a minute"
    if seconds < 2 * 3600:
        return f"up to {round(seconds / 60)} minutes"
    return f"up to {round(seconds / 3600)} hours"


def _where(host: DnsHost | None) -> str:
    return host.name if host is not None else "your DNS host"


# -- one record per kind ------------------------------------------------------------------------


def _cname(
    wanted: Wanted,
    public_dns: _Public,
    authority: _Authority,
    host: DnsHost | None,
    public: CnameCheck | None,
) -> RecordCheck:
    name = parse_name(wanted.name)
    if public is None or public.hostname != wanted.name or public.target != wanted.value:
        public = check_cname(wanted.name, wanted.value)
    target = public.target
    found: tuple[str, ...] = public.chain[1:2] if len(public.chain) > 1 else ()
    if not found and public.addresses:
        found = tuple(_typed(a) for a in public.addresses)
    auth: tuple[str, ...] | None = None
    if name is not None:
        answer = authority.ask(name, dns.rdatatype.CNAME)
        if answer is not None:
            auth = answer.values
            if not auth:
                auth = _auth_addresses(authority, name)

    def row(match: bool | None, code: str, message: str) -> RecordCheck:
        return RecordCheck(
            public.hostname or wanted.name,
            "CNAME",
            target,
            found,
            auth,
            match,
            code,
            message,
            wanted.required,
        )

    if public.ok:
        return row(True, FLATTENED if public.addresses else OK, public.message)
    if auth is not None and target in auth:
        seen = f"still answer {', '.join(found)}" if found else "still answer that it is missing"
        ttl = public_dns.ask(name, dns.rdatatype.CNAME) if name is not None else None
        wait = ttl.ttl if ttl is not None and ttl.ttl else authority.negative_ttl
        return row(
            False,
            PROPAGATING,
            f"Saved at {_where(host)}: its own nameservers answer that {public.hostname} points "
            f"to {target}. Public DNS resolvers {seen}, from before the change, for "
            f"{_wait(wait)}; nothing to do but wait.",
        )
    if public.verdict == Verdict.UNKNOWN and public.code == str(Verdict.UNKNOWN):
        if name is not None and public_dns.dnssec_broken(name):
            zone = name_text(authority.zone) if authority.zone is not None else "the domain"
            return row(
                None,
                DNSSEC_BROKEN,
                f"DNS lookups of {public.hostname} fail because DNSSEC is broken for {zone}: "
                "resolvers that check signatures (as certificate authorities do) get no answer. "
                "Often a DS record is left at the registrar after moving the DNS to another "
                "host: remove it there, or turn DNSSEC on at the new host.",
            )
        return row(None, UNKNOWN, public.message)
    if public.code == PROXIED_AT_CLOUDFLARE:
        return row(None, PROXIED_AT_CLOUDFLARE, public.message)
    if public.verdict == Verdict.APEX:
        return row(False, CNAME_AT_APEX, _apex_message(public.hostname, target, host))
    if public.code in (ZONE_APPENDED_TO_NAME, ZONE_APPENDED_TO_VALUE):
        return row(False, public.code, public.message)
    if public.verdict == Verdict.POINTS_ELSEWHERE and name is not None:
        if len(public.chain) == 1:
            return row(
                False,
                CONFLICTING_RECORDS,
                f"{public.hostname} has address records ({', '.join(found)}) and no CNAME. A "
                "name with a CNAME record can hold no other record: delete its A and AAAA "
                f"records, then create the CNAME record with the value {target}.",
            )
        if _wildcard_answers(public_dns, name, found):
            parent = name_text(name.parent())
            return row(
                False,
                WILDCARD_SHADOW,
                f"{public.hostname} has no record of its own: a wildcard record (*.{parent}) "
                f"answers for it with {found[0]}. Create a CNAME record for {public.hostname} "
                f"itself with the value {target}.",
            )
    code = MISSING if public.verdict == Verdict.MISSING else POINTS_ELSEWHERE
    return row(False, code, public.message)


def _typed(address: str) -> str:
    return f"{'AAAA' if ':' in address else 'A'} {address}"


def _auth_addresses(authority: _Authority, name: dns.name.Name) -> tuple[str, ...]:
    found: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        answer = authority.ask(name, rdtype)
        found += [_typed(v) for v in (answer.values if answer is not None else ())]
    return tuple(found)


def _wildcard_answers(public: _Public, name: dns.name.Name, found: tuple[str, ...]) -> bool:
    """Does a name nobody created, beside `name`, answer the same CNAME? Then a wildcard did."""
    probe = dns.name.Name((f"dcvaas-probe-{secrets.token_hex(4)}".encode(), *name.labels[1:]))
    answer = public.ask(probe, dns.rdatatype.CNAME)
    return answer is not None and bool(found) and answer.values == found


def _apex_message(hostname: str, target: str, host: DnsHost | None) -> str:
    if host is not None and host.apex == Apex.FLATTENING:
        return (
            f"{hostname} is the root of its domain. {host.name} flattens a CNAME record there: "
            f"create a CNAME record at {host.apex_name or '@'} with the value {target}."
        )
    if host is not None and host.apex == Apex.ALIAS:
        return (
            f"{hostname} is the root of its domain, where a CNAME record is not allowed. "
            f"{host.name} offers an ALIAS record instead: create an ALIAS record at "
            f"{host.apex_name or '@'} with the value {target}."
        )
    return (
        f"{hostname} is the root of its domain, where a CNAME record is not allowed"
        + (f" and {host.name} offers no ALIAS record" if host and host.apex == Apex.NONE else "")
        + f". Use www.{hostname} instead (with a redirect from {hostname} to it at your DNS "
        "host), or a DNS host that offers CNAME flattening or ALIAS records."
    )


def _txt(
    wanted: Wanted,
    others: set[str],
    public_dns: _Public,
    authority: _Authority,
    host: DnsHost | None,
) -> RecordCheck:
    """A TXT record; `others`: values other records want at the same name (not stale)."""
    name = _raw_name(wanted.name)
    shown = wanted.name
    public = public_dns.ask(name, dns.rdatatype.TXT) if name is not None else None
    auth_answer = authority.ask(name, dns.rdatatype.TXT) if name is not None else None
    auth = auth_answer.values if auth_answer is not None else None
    found = public.values if public is not None else ()

    def row(match: bool | None, code: str, message: str) -> RecordCheck:
        return RecordCheck(
            shown, "TXT", wanted.value, found, auth, match, code, message, wanted.required
        )

    stale = [v for v in found if v != wanted.value and v not in others]
    if public is None:
        return row(
            None,
            UNKNOWN,
            f"We could not look up the TXT records of {shown} just now "
            "(the lookup failed or timed out); this says nothing about your records. "
            "Try again in a minute.",
        )
    if wanted.value in found and stale:
        return row(
            True,
            STALE_TXT,
            f"{shown} holds the right TXT value, and also an old one ({stale[0]}): delete the "
            "old TXT record so only the current value remains.",
        )
    if wanted.value in found:
        return row(True, OK, f"{shown} holds the TXT value {wanted.value}.")
    if auth is not None and wanted.value in auth:
        wait = public.ttl if found else authority.negative_ttl
        return row(
            False,
            PROPAGATING,
            f"Saved at {_where(host)}: its own nameservers answer the TXT value for {shown}. "
            f"Public DNS resolvers still have the answer from before the change for "
            f"{_wait(wait)}; nothing to do but wait.",
        )
    if stale:
        return row(
            False,
            STALE_TXT,
            f"{shown} holds an old TXT value ({stale[0]}). Replace it with {wanted.value}.",
        )
    optional = "" if wanted.required else " (optional)"
    return row(
        False,
        MISSING,
        f"We don't see a TXT record at {shown} yet{optional}. Create one with the value "
        f"{wanted.value}.",
    )


def _raw_name(text: str) -> dns.name.Name | None:
    """A record's name, which may hold underscores (_cf-custom-hostname.app.client.com)."""
    try:
        return dns.name.from_text(text.strip().rstrip(".").lower()).canonicalize()
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None


def _addresses(wanted: list[Wanted], public_dns: _Public, authority: _Authority) -> RecordCheck:
    """The apex's A or AAAA records (all of one type, compared as a set)."""
    first = wanted[0]
    name = _raw_name(first.name)
    rdtype = dns.rdatatype.from_text(first.type)
    expected = tuple(sorted(w.value for w in wanted))
    public = public_dns.ask(name, rdtype) if name is not None else None
    auth_answer = authority.ask(name, rdtype) if name is not None else None
    auth = auth_answer.values if auth_answer is not None else None
    found = public.values if public is not None else ()

    def row(match: bool | None, code: str, message: str) -> RecordCheck:
        return RecordCheck(
            first.name,
            first.type,
            ", ".join(expected),
            found,
            auth,
            match,
            code,
            message,
            first.required,
        )

    if public is None:
        return row(
            None,
            UNKNOWN,
            f"We could not look up the {first.type} records of "
            f"{first.name} just now; try again in a minute.",
        )
    if found == expected:
        return row(True, OK, f"{first.name} has the {first.type} records {', '.join(expected)}.")
    if auth == expected:
        return row(
            False,
            PROPAGATING,
            f"Saved at your DNS host; public DNS resolvers still have "
            f"the old {first.type} records of {first.name} for {_wait(public.ttl)}.",
        )
    if not found:
        return row(
            False,
            MISSING,
            f"We don't see {first.type} records at {first.name} yet. "
            f"Create one for each of {', '.join(expected)}.",
        )
    return row(
        False,
        WRONG_ADDRESS,
        f"{first.name} has the {first.type} records {', '.join(found)}; it needs exactly "
        f"{', '.join(expected)}. Delete the others.",
    )


def _caa(hostname: str, public: _Public) -> RecordCheck:
    expected = f"none, or one allowing {CLOUDFLARE_CAS_TEXT}"
    if public.dead or public.budget.lifetime() <= 0:
        return RecordCheck(
            hostname, "CAA", expected, (), None, None, CAA_LOOKUP_FAILED,
            f"We could not look up the CAA records of {hostname} in time just now; this says "
            "nothing about them. Try again in a minute.",
        )  # fmt: skip
    found = check_caa(hostname)
    values = tuple(str(r) for r in found.records)
    if found.allows_cloudflare is None:
        code, match = CAA_LOOKUP_FAILED, None
    else:
        code, match = (OK, True) if found.allows_cloudflare else (CAA_BLOCKS, False)
    return RecordCheck(
        found.found_at or hostname, "CAA", expected, values, None, match, code, found.message
    )


# -- all of them --------------------------------------------------------------------------------


def check_records(
    hostname: str,
    wanted: Sequence[Wanted],
    *,
    host: DnsHost | None = None,
    cname: CnameCheck | None = None,
) -> tuple[RecordCheck, ...]:
    """Check each of `wanted` and the CAA records that decide whether the certificate can be
    issued; `host`: the DNS host serving the zone, whose words and features the messages use;
    `cname`: the CNAME's public check when it was just made (not made again)."""
    name = parse_name(hostname)
    public = _Public(configured_resolver(), _Budget.start())
    authority = (
        _authority(name, public) if name is not None else _Authority(None, [], 53, public.budget)
    )
    checks: list[RecordCheck] = []
    addresses: dict[str, list[Wanted]] = {}
    for record in wanted:
        kind = record.type.upper()
        if kind == "CNAME":
            checks.append(_cname(record, public, authority, host, cname))
        elif kind == "TXT":
            others = {w.value for w in wanted if w.name == record.name and w is not record}
            checks.append(_txt(record, others, public, authority, host))
        elif kind in ("A", "AAAA"):
            addresses.setdefault(kind, []).append(record)
    checks += [_addresses(group, public, authority) for group in addresses.values()]
    if name is not None:
        checks.append(_caa(hostname, public))
    return tuple(checks)
