"""One error hierarchy for every Cloudflare failure, classified by error code."""

from __future__ import annotations

from typing import Any


# ---------------------------------------------------------------------------------------------
# Errors, classified by Cloudflare's error code (never by message text)
# ---------------------------------------------------------------------------------------------
class CloudflareError(Exception):
    """Base of every Cloudflare failure. Keeps the HTTP status, the codes and CF's message."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: tuple[int, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.codes = codes
        self.retry_after = retry_after

    @property
    def code(self) -> int | None:
        return self.codes[0] if self.codes else None

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None and f"HTTP {self.status}" not in self.message:
            parts.append(f"HTTP {self.status}")
        if self.codes:
            parts.append("code " + ",".join(str(c) for c in self.codes))
        return " | ".join(parts)


class CloudflareTransientError(CloudflareError):
    """Network failure, timeout, dropped connection, 5xx or 1500: worth retrying later."""


class CloudflareDeadlineError(CloudflareTransientError):
    """The caller's time for Cloudflare ran out (`CloudflareClient(deadline=...)`); the work is
    left for later, as after any transient failure."""


class CloudflareRateLimitedError(CloudflareTransientError):
    """429 (codes 971/10100), or our own budget is spent; `retry_after` is in seconds."""


class CloudflarePermanentError(CloudflareError):
    """A 4xx that the same request will always get again."""


class CloudflareDuplicateError(CloudflarePermanentError):
    """1406: the hostname already exists in the zone."""


class CloudflareNotFoundError(CloudflarePermanentError):
    """1436: no such custom hostname."""


class CloudflareQuotaError(CloudflarePermanentError):
    """1404 (no custom hostname quota) or 1405 (quota exceeded)."""


class CloudflareAuthError(CloudflarePermanentError):
    """The token is missing, invalid, or lacks permission on the zone."""


class CloudflareOriginNotEntitledError(CloudflarePermanentError):
    """1414: the zone may not set custom origin servers (domains/cloudflare/CONTRACT.md §10.3)."""


class CloudflareOriginRejectedError(CloudflarePermanentError):
    """1415-1421: the custom origin server named is not usable; `user_message` says why."""

    def __init__(self, message: str, *, user_message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.user_message = user_message


class CloudflareRecordConflictError(CloudflarePermanentError):
    """81053/81054/81057: a DNS record of that name (and type, or content) already exists."""


class CloudflareInvalidHostnameError(CloudflarePermanentError):
    """Cloudflare rejected the hostname itself; `user_message` says what the person can do."""

    def __init__(self, message: str, *, user_message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.user_message = user_message


# Our own words for each hostname rejection, written for the person who typed the hostname.
INVALID_HOSTNAME_MESSAGES: dict[int, str] = {
    1407: (
        "This is not a valid hostname. Use a name like shop.example-company.com: letters, digits "
        "and hyphens separated by dots, no spaces or special characters, not an IP address, not "
        "starting or ending with a hyphen, and under 256 characters."
    ),
    1408: (
        "Hostnames with non-ASCII characters must be entered in their punycode form "
        "(for example xn--bcher-kva.example-company.com instead of bücher.example-company.com)."
    ),
    1409: (
        "Hostnames under reserved top-level domains (.test, .example, .invalid, .localhost) "
        "cannot get a certificate. Use a hostname under a real, registered domain."
    ),
    1410: (
        "This hostname cannot be parsed into a registered domain. Check for typos, and make "
        "sure it ends in a real public suffix such as .com or .co.uk."
    ),
    1411: (
        "Hostnames ending in example.com, example.net or example.org are reserved for "
        "documentation and cannot be used. Use a hostname under a domain you own."
    ),
    1448: (
        "Wildcard hostnames (starting with *.) are not supported. Add each hostname you need "
        "separately, for example shop.example-company.com."
    ),
}
# Our words for Cloudflare's custom-origin refusals (domains/cloudflare/CONTRACT.md §10.3). The name
# Cloudflare checks is our own DNS record's, built from CLOUDFLARE_ORIGINS_SUBDOMAIN and the zone's
# name, so most of these are ours to fix, not the tenant's.
ORIGIN_REJECTED_MESSAGES: dict[int, str] = {
    1415: "Cloudflare refused the origin record's name as invalid: check the "
    "CLOUDFLARE_ORIGINS_SUBDOMAIN and CLOUDFLARE_ZONE_NAME settings.",
    1416: "Cloudflare refused the origin record's name: it must be ASCII (punycode).",
    1417: "Cloudflare refused the origin record's name: it ends in a reserved top-level domain "
    "(.test, .example, .invalid, .localhost). Check CLOUDFLARE_ZONE_NAME.",
    1418: "Cloudflare could not find a registrable domain in the origin record's name. Check "
    "CLOUDFLARE_ZONE_NAME.",
    1419: "Cloudflare refuses origin names under example.com, example.net and example.org. "
    "Check CLOUDFLARE_ZONE_NAME.",
    1420: "Cloudflare does not accept wildcard origin names.",
    1421: "The origin's DNS record is missing from the zone at Cloudflare; DCVaaS writes it "
    "again before pointing domains at it.",
}
ORIGIN_NOT_ENTITLED_CODE = 1414
RECORD_CONFLICT_CODES = frozenset({81053, 81054, 81057})
RECORD_NOT_FOUND_CODE = 81044
QUOTA_CODES = frozenset({1404, 1405})
RATE_LIMIT_CODES = frozenset({971, 10100})
AUTH_CODES = frozenset({9106, 9109, 10000, 6003, *range(1000, 1006)})
DUPLICATE_CODE = 1406
NOT_FOUND_CODE = 1436
INTERNAL_ERROR_CODE = 1500
# "Could not route to /zones/<id>/...": the zone id is wrong (or the token cannot see it).
ROUTING_CODES = frozenset({7000, 7003})


def classify_error(
    status: int, codes: tuple[int, ...], message: str, retry_after: float | None = None
) -> CloudflareError:
    """The error for a failed answer, chosen by code first and HTTP status second."""
    kwargs: dict[str, Any] = {"status": status, "codes": codes}
    code_set = set(codes)
    if status == 429 or code_set & RATE_LIMIT_CODES:
        return CloudflareRateLimitedError(message, retry_after=retry_after, **kwargs)
    if DUPLICATE_CODE in code_set:
        return CloudflareDuplicateError(message, **kwargs)
    if NOT_FOUND_CODE in code_set or RECORD_NOT_FOUND_CODE in code_set:
        return CloudflareNotFoundError(message, **kwargs)
    if ORIGIN_NOT_ENTITLED_CODE in code_set:
        return CloudflareOriginNotEntitledError(message, **kwargs)
    for code in codes:
        if code in ORIGIN_REJECTED_MESSAGES:
            user_message = ORIGIN_REJECTED_MESSAGES[code]
            return CloudflareOriginRejectedError(message, user_message=user_message, **kwargs)
    if code_set & RECORD_CONFLICT_CODES:
        return CloudflareRecordConflictError(message, **kwargs)
    if any(9000 <= code < 9100 for code in codes):
        # A DNS record validation error, alone or in the older 1004 "DNS Validation Error"
        # wrapper (domains/cloudflare/CONTRACT.md §9.4), whose 1004 would otherwise read as an auth
        # failure.
        return CloudflarePermanentError(message, **kwargs)
    for code in codes:
        if code in INVALID_HOSTNAME_MESSAGES:
            user_message = INVALID_HOSTNAME_MESSAGES[code]
            return CloudflareInvalidHostnameError(message, user_message=user_message, **kwargs)
    if code_set & QUOTA_CODES:
        return CloudflareQuotaError(message, **kwargs)
    if code_set & AUTH_CODES:
        return CloudflareAuthError(message, **kwargs)
    if status >= 500 or INTERNAL_ERROR_CODE in code_set or status == 408:
        return CloudflareTransientError(message, retry_after=retry_after, **kwargs)
    # A bare 401/403 is about credentials; one with a custom-hostnames code (1413/1414: a
    # missing entitlement) is not.
    if status in (401, 403) and not any(1400 <= code < 1500 for code in codes):
        return CloudflareAuthError(message, **kwargs)
    return CloudflarePermanentError(message, **kwargs)
