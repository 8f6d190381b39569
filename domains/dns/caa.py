"""Do the hostname's CAA records let Cloudflare's certificate authorities issue?"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

from domains.dns.resolver import (
    LookupFailed,
    configured_resolver,
    invalid_name_message,
    join_names,
    name_text,
    parse_name,
    query_once,
)

# Certificate authorities Cloudflare for SaaS issues from, as their CAA issuer domains
# (contract §5.3): Google Trust Services, Let's Encrypt, SSL.com.
CLOUDFLARE_CAS = ("pki.goog", "letsencrypt.org", "ssl.com")
# CAA tags a CA understands; a critical property with any other tag forbids issuance (RFC 8659
# §4.1). iodef only names a reporting address.
KNOWN_CAA_TAGS = frozenset({"issue", "issuewild", "iodef"})


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
    name = parse_name(shown[2:] if wildcard else shown)
    if name is None:
        return CaaCheck(shown, None, (), None, (), invalid_name_message(hostname))
    host = ("*." if wildcard else "") + name_text(name)
    resolver = configured_resolver()
    current = name
    rrset: dns.rrset.RRset | None = None
    try:
        while len(current) > 1:  # stop before the root, which holds no CAA records
            rrset = query_once(resolver, current, dns.rdatatype.CAA).rrset
            if rrset is not None and len(rrset):
                break
            rrset = None
            current = current.parent()
    except LookupFailed as failure:
        return CaaCheck(
            host,
            None,
            (),
            None,
            (),
            f"We could not check the CAA records of {host}: the CAA lookup for "
            f"{name_text(failure.name)} {failure.reason}. Certificate authorities refuse to issue "
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
    return _caa_decision(host, name_text(rrset.name), records, wildcard=wildcard)


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
            f"The CAA records at {found_at} allow {join_names(list(cas))}, which Cloudflare uses "
            f"to issue the certificate for {host}.",
        )
    add = "; ".join(f'`{found_at} CAA 0 {tag} "{ca}"`' for ca in CLOUDFLARE_CAS)
    if pinned:
        why = (
            f"Your CAA records at {found_at} allow {join_names(sorted(set(pinned)))} only for your "
            "own ACME account (accounturi), which Cloudflare does not use"
        )
    elif others:
        why = f"Your CAA records at {found_at} only allow {join_names(sorted(set(others)))}"
    else:
        why = f"Your CAA records at {found_at} forbid every certificate authority"
    scope = " for wildcard certificates" if tag == "issuewild" else ""
    return result(
        False,
        (),
        f"{why}{scope}, so Cloudflare cannot issue the certificate for {host}. Add these "
        f"records (at least one is needed): {add}.",
    )
