"""Where a webhook may be sent: a tenant chooses the URL, our servers make the request.

The URL is checked when an endpoint is saved and again, with a fresh DNS lookup, before every
attempt: what is refused is the address we would connect to, so a name that resolved to a
public address yesterday and to 169.254.169.254 today is refused today.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from domains.dns import address_refusal, resolve_addresses

LOOPBACK_NAMES = ("localhost",)


class WebhookUrlError(ValueError):
    """A URL we will not send to; `message` says why, for the person who typed it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the URL's parts and the checked address to connect to."""

    scheme: str
    hostname: str
    port: int
    path: str  # with its query string
    address: str  # an IP address that passed `refusal`


def refusal(address: str, port: int | None = None) -> str:
    """Why we never connect to `address` (on `port`) ("" when we may), in words."""
    return address_refusal(address, allow_loopback=_loopback_allowed(port))


def _loopback_allowed(port: int | None) -> bool:
    # The sandbox's webhook inbox listens on loopback (`make run`): its port alone, never any
    # other service on the machine; production allows none.
    return port is not None and port in settings.WEBHOOK_LOOPBACK_PORTS


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, hostname, port, path) of a URL we may send to, or `WebhookUrlError`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise WebhookUrlError("invalid_url", f"That is not a URL: {error}.") from error
    hostname = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("https", "http") or not hostname:
        raise WebhookUrlError("invalid_url", "Enter a full URL, like https://app.example/hooks.")
    if parts.username or parts.password:
        raise WebhookUrlError("userinfo", "Leave the user name and password out of the URL.")
    loopback = hostname in LOOPBACK_NAMES or _is_loopback_literal(hostname)
    port = port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "http" and not (loopback and _loopback_allowed(port)):
        raise WebhookUrlError("https_required", "Webhooks are sent over https only.")
    if _is_ours(hostname):
        raise WebhookUrlError("own_host", f"{hostname} is DCVaaS itself: use your app's URL.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, hostname, port, path


def resolve_target(url: str) -> Target:
    """Check `url`, resolve its host now and pick an address we may connect to; raises
    `WebhookUrlError` when there is none."""
    scheme, hostname, port, path = check_url(url)
    if _is_ip_literal(hostname):
        addresses: tuple[str, ...] = (hostname,)
    elif hostname in LOOPBACK_NAMES:
        addresses = ("127.0.0.1",)
    else:
        found = resolve_addresses(hostname)
        if found.problem:
            raise WebhookUrlError(
                "unresolvable", f"Could not resolve the URL's host: {found.problem}."
            )
        addresses = found.addresses
    reasons = {address: refusal(address, port) for address in addresses}
    allowed = [address for address, reason in reasons.items() if not reason]
    if not allowed:
        address, reason = next(iter(reasons.items()))
        raise WebhookUrlError(
            "refused_address", f"{hostname} resolves to {address}, {reason}: we never send there."
        )
    return Target(scheme, hostname, port, path, allowed[0])


def _is_ip_literal(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _is_loopback_literal(hostname: str) -> bool:
    return _is_ip_literal(hostname) and ipaddress.ip_address(hostname).is_loopback


def _is_ours(hostname: str) -> bool:
    target = str(settings.DCV_CNAME_TARGET).rstrip(".").lower()
    site = (urlsplit(str(settings.SITE_URL)).hostname or "").lower()
    ours = {target, site} - {"", "127.0.0.1", "localhost"}
    return any(hostname == own or hostname.endswith("." + own) for own in ours)
