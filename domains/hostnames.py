"""Hostname input: normalised and validated before anything is sent anywhere.

Every accepted hostname is one Cloudflare accepts as a custom hostname (its codes 1407-1411 and
1448 never happen for our input); every rejection says what to change.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

import idna
from publicsuffixlist import PublicSuffixList

MAX_NAME = 253
MAX_LABEL = 63
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Special-use top-level names (RFC 2606, 6761, 6762, 7686, 9476, 8375 and the rest of IANA's
# special-use registry, whose other entries all sit under .arpa; ICANN's .internal), and what
# Cloudflare refuses (error codes 1409, 1411).
RESERVED_TLDS = frozenset(
    {"test", "example", "invalid", "localhost", "local", "onion", "internal", "arpa", "alt"}
)
URL_SCHEMES = ("http", "https")
# A scheme before a colon that is not a port ("ftp:", "mailto:"): RFC 3986's scheme syntax.
SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*):(?!\d*$)")
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")


class HostnameError(ValueError):
    """Input that is not a hostname we can register; `message` says what to change."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Hostname:
    name: str  # normalised ASCII (punycode) form, what Cloudflare gets
    is_apex: bool  # the registrable domain itself (client.com), where CNAMEs rarely work
    registrable_domain: str  # client.com for app.client.com
    is_wildcard: bool

    @property
    def unicode(self) -> str:
        """The name as a person reads it (münchen.de rather than xn--mnchen-3ya.de)."""
        return to_unicode(self.name)

    @property
    def relative_name(self) -> str:
        """The part DNS providers ask for: `app` for app.client.com, `@` for the apex."""
        if self.is_apex:
            return "@"
        return self.name[: -len(self.registrable_domain) - 1]


def to_unicode(name: str) -> str:
    """`name` (ASCII, as stored) as a person reads it: xn--mnchen-3ya.de is münchen.de. A
    name that does not decode is shown as it is."""
    if "xn--" not in name:
        return name
    wildcard = "*." if name.startswith("*.") else ""
    try:
        return wildcard + idna.decode(name.removeprefix("*."))
    except (idna.IDNAError, UnicodeError):
        return name


def registrable_domain(name: str) -> str:
    """client.com for app.client.com, for a name already normalised (ASCII, lower case, as
    stored): the public suffix list alone, without parsing the name again."""
    return _psl().privatesuffix(name.removeprefix("*.")) or name


@functools.cache
def _psl() -> PublicSuffixList:
    # The list ships inside the package: no download at run time.
    return PublicSuffixList(accept_unknown=False)


def _strip_decoration(raw: str) -> str:
    """Accept what people paste: surrounding spaces, an http(s) URL, a port, one trailing dot.

    Anything that would otherwise become a different name is refused instead: a user name or
    an "@" (`ap@p.shop.dev` is not `p.shop.dev`), another URL scheme, a second trailing dot.
    """
    text = raw.strip()
    scheme = SCHEME_RE.match(text.lower())
    if scheme and scheme.group(1) not in URL_SCHEMES and not _is_ip_address(text):
        raise HostnameError(
            "unsupported_scheme",
            f"“{scheme.group(1)}:” is not a web address. Enter only the hostname, like "
            "app.client.com, or an http(s):// URL.",
        )
    if "://" in text:
        text = text.split("://", 1)[1]
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    if "@" in text:
        raise HostnameError(
            "userinfo",
            "A hostname has no “@” or user name in it. Enter only the hostname, like "
            "app.client.com.",
        )
    if text.count(":") == 1:  # host:port (an IPv6 address has several colons)
        text = text.split(":", 1)[0]
    return text.removesuffix(".").lower()


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def parse_hostname(raw: str, *, allow_wildcard: bool = False, cname_target: str = "") -> Hostname:
    """Normalise `raw` and check it, raising `HostnameError` with a plain message."""
    if not isinstance(raw, str) or not raw.strip():
        raise HostnameError(
            "required", "Enter the hostname your customer will use, like app.client.com."
        )
    text = _strip_decoration(raw)
    if not text:
        raise HostnameError("invalid", "Enter a hostname like app.client.com.")
    if " " in text or "\t" in text:
        raise HostnameError("invalid_characters", "A hostname cannot contain spaces.")

    if _is_ip_address(text):
        raise HostnameError(
            "ip_address",
            "That is an IP address. Enter the hostname your customer will use, "
            "like app.client.com.",
        )

    is_wildcard = text.startswith("*.")
    if is_wildcard and not allow_wildcard:
        raise HostnameError(
            "wildcard_not_allowed",
            "DCVaaS does not take wildcard hostnames (*.client.com) yet. "
            "Add each hostname separately, like app.client.com.",
        )
    body = text[2:] if is_wildcard else text
    if "*" in body:
        raise HostnameError(
            "invalid_characters",
            "A * is only allowed as the whole first label, as in *.client.com.",
        )

    if body.isascii():
        _check_lengths(body)  # before idna, which would refuse too-long names less helpfully
    try:
        # UTS 46 mapping, as browsers do: case folding and width mapping before IDNA 2008.
        ascii_name = idna.encode(body, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as error:
        raise _explain_invalid(body) from error

    labels = ascii_name.split(".")
    _check_lengths(ascii_name)
    for label in labels:
        if not LABEL_RE.match(label):
            raise _explain_invalid(label)
    name = f"*.{ascii_name}" if is_wildcard else ascii_name
    if len(labels) < 2:
        raise HostnameError(
            "single_label",
            f"“{ascii_name}” has no domain. Enter the full hostname, like {ascii_name}.client.com.",
        )
    tld = labels[-1]
    if tld in RESERVED_TLDS:
        raise HostnameError(
            "reserved_tld",
            f"“.{tld}” is reserved for special use and never names a website on the internet. "
            "Use the real domain.",
        )
    if any(ascii_name == d or ascii_name.endswith("." + d) for d in EXAMPLE_DOMAINS):
        raise HostnameError(
            "example_domain",
            "example.com, example.net and example.org are reserved for documentation. "
            "Use the real domain.",
        )

    psl = _psl()
    if psl.publicsuffix(ascii_name) is None:
        raise HostnameError(
            "unknown_tld", f"“.{tld}” is not a top-level domain. Check the spelling of the ending."
        )
    registrable = psl.privatesuffix(ascii_name)
    if registrable is None:
        raise HostnameError(
            "public_suffix",
            f"“{ascii_name}” is a public suffix that anyone can register under, not a domain. "
            "Enter the full hostname, like app.client.com.",
        )
    if cname_target:
        own_zone = psl.privatesuffix(cname_target.rstrip(".").lower()) or cname_target
        if ascii_name == own_zone or ascii_name.endswith("." + own_zone):
            raise HostnameError(
                "own_zone",
                f"Hostnames under {own_zone} are ours. Enter your customer's hostname instead.",
            )
    return Hostname(
        name=name,
        is_apex=(ascii_name == registrable),
        registrable_domain=registrable,
        is_wildcard=is_wildcard,
    )


def _check_lengths(name: str) -> None:
    for label in name.split("."):
        if len(label) > MAX_LABEL:
            raise HostnameError(
                "label_too_long",
                f"The part “{label[:20]}…” is {len(label)} characters long; each part between "
                f"dots can be at most {MAX_LABEL}.",
            )
    if len(name) > MAX_NAME:
        raise HostnameError(
            "name_too_long",
            f"That hostname is {len(name)} characters long; the most DNS allows is {MAX_NAME}.",
        )


def _explain_invalid(part: str) -> HostnameError:
    if part.startswith("-") or part.endswith("-"):
        return HostnameError(
            "invalid_characters",
            f"“{part}” starts or ends with a hyphen; parts of a hostname cannot.",
        )
    if "" in part.split("."):
        return HostnameError(
            "empty_label", "The hostname has two dots in a row or starts with a dot."
        )
    bad = sorted({c for c in part if not (c.isalnum() or c in "-.")})
    if bad:
        shown = " ".join(bad)
        return HostnameError(
            "invalid_characters",
            f"Hostnames can only contain letters, digits, hyphens and dots; remove: {shown}",
        )
    return HostnameError("invalid_characters", f"“{part}” is not a valid part of a hostname.")
