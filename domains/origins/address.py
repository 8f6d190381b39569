"""What an origin's address may be: a hostname or a public IP address our edge can send
traffic to, never a place inside anyone's network (ours included).

Checked when an origin is saved (the form and the API) and again, with a fresh DNS lookup, when
it is tested: a name that resolved to a public address yesterday and to 10.0.0.5 today is
refused today.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from domains.dns import address_refusal, resolve_addresses
from domains.errors import DomainError
from domains.hostnames import HostnameError, parse_hostname


@dataclass(frozen=True)
class OriginAddress:
    value: str  # a hostname (ASCII, lower case) or an IP address in its compact form
    record_type: str  # the DNS record that stands for it: CNAME, A or AAAA

    @property
    def is_hostname(self) -> bool:
        return self.record_type == "CNAME"


def _own_names() -> tuple[str, ...]:
    names = (settings.CLOUDFLARE_ZONE_NAME, settings.DCV_CNAME_TARGET)
    return tuple(n.rstrip(".").lower() for n in names if n)


def parse_origin_address(raw: object) -> OriginAddress:
    """Normalise `raw` and check it, or raise `DomainError` (field "address")."""
    if not isinstance(raw, str) or not raw.strip():
        raise DomainError(
            "required",
            "Enter your app's hostname (like myapp.fly.dev) or its public IP address.",
            field="address",
        )
    text = raw.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise DomainError(
                "invalid", "That is not a hostname or an address.", field="address"
            ) from None
        if parts.scheme not in ("http", "https"):
            raise DomainError(
                "unsupported_scheme", "Enter a hostname or an IP address.", field="address"
            )
        if port is not None:
            raise _port_error()
        text = parts.hostname or ""
    elif text.count(":") == 1 or (text.startswith("[") and "]:" in text):
        raise _port_error()
    text = text.strip("[]").rstrip("/").rstrip(".")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        ip = None
    if ip is not None:
        reason = address_refusal(str(ip))
        if reason:
            raise DomainError(
                "refused_address",
                f"{ip} is {reason}: Cloudflare cannot reach it from the internet, and we never "
                "send traffic there. Use your app's public address.",
                field="address",
            )
        return OriginAddress(str(ip), "A" if ip.version == 4 else "AAAA")
    try:
        name = parse_hostname(text).name
    except HostnameError as error:
        raise DomainError(error.code, error.message, field="address") from error
    for own in _own_names():
        if name == own or name.endswith("." + own) or own.endswith("." + name):
            raise DomainError(
                "own_zone",
                f"{name} is part of DCVaaS itself, not your app. Enter the hostname your app "
                "runs on, like myapp.fly.dev.",
                field="address",
            )
    return OriginAddress(name, "CNAME")


def _port_error() -> DomainError:
    return DomainError(
        "port",
        "Leave the port out: Cloudflare connects to your app on port 443 (HTTPS) or 80 (HTTP).",
        field="address",
    )


def check_resolution(address: OriginAddress) -> tuple[str, ...]:
    """The public addresses a hostname origin resolves to now (an IP origin: itself).

    Raises `DomainError` when every address it resolves to is one we refuse. A hostname that
    does not resolve (yet) gives an empty tuple: a new app may not be in DNS yet, and nothing
    is sent anywhere until it is.
    """
    if not address.is_hostname:
        return (address.value,)
    found = resolve_addresses(address.value)
    if found.problem:
        return ()
    reasons = {
        a: address_refusal(a, allow_loopback=bool(settings.ORIGIN_ALLOW_LOOPBACK))
        for a in found.addresses
    }
    allowed = tuple(a for a, reason in reasons.items() if not reason)
    if not allowed:
        first, reason = next(iter(reasons.items()))
        raise DomainError(
            "refused_address",
            f"{address.value} resolves to {first}, {reason}: we never send traffic there. "
            "Point it at your app's public address.",
            field="address",
        )
    return allowed
