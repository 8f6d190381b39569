"""The only module that talks to Cloudflare: custom hostnames of Cloudflare for SaaS.

Built on `requests` against the contract in the project notes (Cloudflare's v4 API). Callers get
frozen dataclasses and one error hierarchy (`CloudflareError`); no vendor JSON leaves this
module. Every call:

- reads its credentials from settings at call time (`ImproperlyConfigured` names what is missing);
- spends one request of the shared rate budget (`domains.rate_budget`) at the caller's priority
  ("user" for people, "bulk" for the sync loop);
- has a connect and a read timeout;
- is retried, a bounded number of times with capped exponential backoff and jitter, only when
  the failure is transient (network, 5xx, 1500) or a 429 whose wait is short; other 4xx are
  final (a duplicate create is sent exactly once, then adopted);
- logs one line (method, path, status, attempt, elapsed), never the token.
"""

from __future__ import annotations

import builtins
import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from domains.rate_budget import Priority, RateBudget, RateBudgetExhausted
from domains.rate_budget import budget as shared_budget

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Known values. Results keep whatever string Cloudflare sent (it adds values over time); these
# enums are for comparing against, e.g. `hostname.status == HostnameStatus.ACTIVE`.
# ---------------------------------------------------------------------------------------------
class HostnameStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    ACTIVE_REDEPLOYING = "active_redeploying"
    MOVED = "moved"
    PENDING_DELETION = "pending_deletion"
    DELETED = "deleted"
    PENDING_BLOCKED = "pending_blocked"
    PENDING_MIGRATION = "pending_migration"
    PENDING_PROVISIONED = "pending_provisioned"
    TEST_PENDING = "test_pending"
    TEST_ACTIVE = "test_active"
    TEST_ACTIVE_APEX = "test_active_apex"
    TEST_BLOCKED = "test_blocked"
    TEST_FAILED = "test_failed"
    PROVISIONED = "provisioned"
    BLOCKED = "blocked"


class SSLStatus(StrEnum):
    INITIALIZING = "initializing"
    PENDING_VALIDATION = "pending_validation"
    DELETED = "deleted"
    PENDING_ISSUANCE = "pending_issuance"
    PENDING_DEPLOYMENT = "pending_deployment"
    PENDING_DELETION = "pending_deletion"
    PENDING_EXPIRATION = "pending_expiration"
    EXPIRED = "expired"
    ACTIVE = "active"
    INITIALIZING_TIMED_OUT = "initializing_timed_out"
    VALIDATION_TIMED_OUT = "validation_timed_out"
    ISSUANCE_TIMED_OUT = "issuance_timed_out"
    DEPLOYMENT_TIMED_OUT = "deployment_timed_out"
    DELETION_TIMED_OUT = "deletion_timed_out"
    PENDING_CLEANUP = "pending_cleanup"
    STAGING_DEPLOYMENT = "staging_deployment"
    STAGING_ACTIVE = "staging_active"
    DEACTIVATING = "deactivating"
    INACTIVE = "inactive"
    BACKUP_ISSUED = "backup_issued"
    HOLDING_DEPLOYMENT = "holding_deployment"


class FallbackOriginStatus(StrEnum):
    INITIALIZING = "initializing"
    PENDING_DEPLOYMENT = "pending_deployment"
    PENDING_DELETION = "pending_deletion"
    ACTIVE = "active"
    DEPLOYMENT_TIMED_OUT = "deployment_timed_out"
    DELETION_TIMED_OUT = "deletion_timed_out"


class DCVMethod(StrEnum):
    HTTP = "http"
    TXT = "txt"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TxtRecord:
    name: str
    value: str


@dataclass(frozen=True)
class HttpToken:
    url: str
    body: str


@dataclass(frozen=True)
class CnameRecord:
    name: str
    target: str


@dataclass(frozen=True)
class CustomHostname:
    """One custom hostname as Cloudflare reports it. Status strings are kept verbatim."""

    id: str
    hostname: str
    status: str  # hostname (ownership) validation; "" when Cloudflare sent none
    ssl_status: str  # certificate; "" when Cloudflare sent none
    ssl_method: str
    verification_errors: tuple[str, ...]
    ownership_txt: TxtRecord | None
    ownership_http: HttpToken | None
    validation_txt: tuple[TxtRecord, ...]
    validation_http: tuple[HttpToken, ...]
    validation_cname: tuple[CnameRecord, ...]
    validation_errors: tuple[str, ...]
    certificate_issuer: str | None
    certificate_expires_at: datetime | None
    created_at: datetime | None

    @property
    def is_active(self) -> bool:
        """Both validations passed: the hostname serves with our certificate."""
        return self.status == HostnameStatus.ACTIVE and self.ssl_status == SSLStatus.ACTIVE

    @property
    def has_validation_records(self) -> bool:
        return bool(self.validation_txt or self.validation_http or self.validation_cname)


@dataclass(frozen=True)
class HostnamePage:
    """One page of a listing; `total_count`/`total_pages` are None when Cloudflare omits them."""

    items: tuple[CustomHostname, ...]
    page: int
    per_page: int
    total_count: int | None
    total_pages: int | None


@dataclass(frozen=True)
class FallbackOrigin:
    origin: str
    status: str
    errors: tuple[str, ...]
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class Quota:
    allocated: int
    used: int
    hard_cap: int | None
    exceeded: bool


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
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.codes:
            parts.append("code " + ",".join(str(c) for c in self.codes))
        return " | ".join(parts)


class CloudflareTransientError(CloudflareError):
    """Network failure, timeout, dropped connection, 5xx or 1500: worth retrying later."""


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
    if NOT_FOUND_CODE in code_set:
        return CloudflareNotFoundError(message, **kwargs)
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


# ---------------------------------------------------------------------------------------------
# Parsing (tolerant: missing/null fields, unknown values and the deprecated flattened
# `ssl.txt_name`/`ssl.http_url`/`ssl.cname` never crash it)
# ---------------------------------------------------------------------------------------------
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _messages(value: Any) -> tuple[str, ...]:
    # verification_errors are strings; ssl.validation_errors are {"message": ...} objects.
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        text = item if isinstance(item, str) else _str(_dict(item).get("message"))
        if text:
            out.append(text)
    return tuple(out)


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from Cloudflare's ISO 8601 or RFC 1123 text, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _validation_records(
    ssl: dict[str, Any],
) -> tuple[list[TxtRecord], list[HttpToken], list[CnameRecord]]:
    txt: list[TxtRecord] = []
    http: list[HttpToken] = []
    cname: list[CnameRecord] = []
    records = ssl.get("validation_records")
    sources = [_dict(r) for r in records] if isinstance(records, list) else []
    # Older payloads flattened the first record into `ssl` itself.
    sources.append(ssl)
    for record in sources:
        if record.get("txt_name") and record.get("txt_value"):
            item = TxtRecord(_str(record["txt_name"]), _str(record["txt_value"]))
            if item not in txt:
                txt.append(item)
        if record.get("http_url") and record.get("http_body"):
            token = HttpToken(_str(record["http_url"]), _str(record["http_body"]))
            if token not in http:
                http.append(token)
        if record.get("cname") and record.get("cname_target"):
            alias = CnameRecord(_str(record["cname"]), _str(record["cname_target"]))
            if alias not in cname:
                cname.append(alias)
    return txt, http, cname


def parse_hostname(data: Any) -> CustomHostname:
    """A `CustomHostname` from one `result` object."""
    data = _dict(data)
    ssl = _dict(data.get("ssl"))
    txt, http, cname = _validation_records(ssl)
    ownership = _dict(data.get("ownership_verification"))
    ownership_http = _dict(data.get("ownership_verification_http"))
    # The deployed certificate: ssl.certificates[] when present, else the top-level fields
    # (documented for uploaded certificates).
    certificates = [_dict(c) for c in ssl.get("certificates") or [] if isinstance(c, dict)]
    first = certificates[0] if certificates else {}
    issuer = _str(first.get("issuer")) or _str(ssl.get("issuer")) or None
    expires = parse_datetime(first.get("expires_on")) or parse_datetime(ssl.get("expires_on"))
    return CustomHostname(
        id=_str(data.get("id")),
        hostname=_str(data.get("hostname")),
        status=_str(data.get("status")),
        ssl_status=_str(ssl.get("status")),
        ssl_method=_str(ssl.get("method")),
        verification_errors=_messages(data.get("verification_errors")),
        ownership_txt=(
            TxtRecord(_str(ownership["name"]), _str(ownership["value"]))
            if ownership.get("name") and ownership.get("value")
            else None
        ),
        ownership_http=(
            HttpToken(_str(ownership_http["http_url"]), _str(ownership_http["http_body"]))
            if ownership_http.get("http_url") and ownership_http.get("http_body")
            else None
        ),
        validation_txt=tuple(txt),
        validation_http=tuple(http),
        validation_cname=tuple(cname),
        validation_errors=_messages(ssl.get("validation_errors")),
        certificate_issuer=issuer,
        certificate_expires_at=expires,
        created_at=parse_datetime(data.get("created_at")),
    )


# ---------------------------------------------------------------------------------------------
# Rate-limit headers
# ---------------------------------------------------------------------------------------------
_RATELIMIT_T = re.compile(r"(?:^|[;,\s])(?:t|reset)\s*=\s*(\d+(?:\.\d+)?)")
_RATELIMIT_R = re.compile(r"(?:^|[;,\s])(?:r|remaining)\s*=\s*(\d+)")


def _seconds_until(value: str, now: float) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        when = parse_datetime(value)
        return None if when is None else max(0.0, when.timestamp() - now)
    # X-RateLimit-Reset has been seen both as a delay and as an epoch timestamp.
    return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the rate limit resets, from `Retry-After` first, then `Ratelimit`
    (`"default";r=0;t=30`), then `X-RateLimit-Reset`; None when no header says.
    """
    retry_after = headers.get("Retry-After")
    if retry_after:
        seconds = _seconds_until(retry_after, now)
        if seconds is not None:
            return seconds
    structured = headers.get("Ratelimit")
    if structured:
        match = _RATELIMIT_T.search(structured)
        if match:
            return float(match.group(1))
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        return _seconds_until(reset, now)
    return None


def _remaining(headers: Mapping[str, str]) -> int | None:
    structured = headers.get("Ratelimit")
    if structured:
        match = _RATELIMIT_R.search(structured)
        if match:
            return int(match.group(1))
    return _int(headers.get("X-RateLimit-Remaining"))


# ---------------------------------------------------------------------------------------------
# Configuration, read at call time
# ---------------------------------------------------------------------------------------------
def _required_setting(name: str) -> str:
    value = getattr(settings, name, "")
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(
            f"{name} is not set. Set the {name} environment variable "
            "(see .env.example) to talk to Cloudflare."
        )
    return value.strip()


def cname_target() -> str:
    """The hostname customers CNAME to (`DCV_CNAME_TARGET`)."""
    return _required_setting("DCV_CNAME_TARGET").rstrip(".").lower()


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_PER_PAGE = 50
MAX_UNBRANDED_LENGTH = 64
MIN_PER_PAGE = 5


class CloudflareClient:
    """Custom hostnames, fallback origin and quota of the configured zone.

    `sleep` and `clock` (wall-clock epoch seconds) are injectable so tests stay fast; `max_wait`
    caps any single wait inside a call (a 429's reset, our own budget), beyond which the call
    raises `CloudflareRateLimitedError` with `retry_after` instead of blocking its caller.
    `calls` counts HTTP attempts made by this client (retries included).
    """

    def __init__(
        self,
        *,
        budget: RateBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.budget = budget or shared_budget
        self._sleep = sleep
        self._clock = clock
        self.max_wait = max_wait
        self._session = session or requests.Session()
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def calls(self) -> int:
        return self._calls

    # -- custom hostnames --------------------------------------------------------------------
    def create(
        self,
        hostname: str,
        *,
        method: DCVMethod | str = DCVMethod.HTTP,
        priority: Priority = "user",
    ) -> CustomHostname:
        """Register `hostname` (idempotent: an existing one is looked up and adopted).

        Raises `CloudflareInvalidHostnameError`, `CloudflareQuotaError`, `CloudflareAuthError`,
        `CloudflareTransientError` (retry later) or another `CloudflareError`.
        """
        method = DCVMethod(method)
        hostname = hostname.strip().rstrip(".").lower()
        ssl: dict[str, Any] = {
            "method": str(method),
            "type": "dv",
            # An object: `settings` sent as an empty JSON array is rejected with 1400.
            "settings": {"min_tls_version": "1.2"},
        }
        if len(hostname) > MAX_UNBRANDED_LENGTH:
            # A certificate's common name is at most 64 characters; for longer hostnames
            # Cloudflare puts its own name in the CN (and ours in the SAN) or refuses with 1469.
            ssl["cloudflare_branding"] = True
        body = {"hostname": hostname, "ssl": ssl}
        try:
            payload = self._request("POST", "/custom_hostnames", json=body, priority=priority)
        except CloudflareDuplicateError:
            # A retried registration (ours or another process's) already created it: adopt the
            # existing one rather than fail, so there is never a second Cloudflare hostname.
            existing = self.find_by_hostname(hostname, priority=priority)
            if existing is None:
                raise
            logger.info("cloudflare: adopted existing custom hostname %s", existing.id)
            return existing
        return parse_hostname(payload.get("result"))

    def get(self, hostname_id: str, *, priority: Priority = "user") -> CustomHostname:
        """The custom hostname with this id; `CloudflareNotFoundError` if there is none."""
        payload = self._request("GET", self._hostname_path(hostname_id), priority=priority)
        return parse_hostname(payload.get("result"))

    def refresh(
        self,
        hostname_id: str,
        *,
        method: DCVMethod | str | None = None,
        priority: Priority = "user",
    ) -> CustomHostname:
        """Ask Cloudflare to re-check both validations now (restarts its backoff schedule).

        The PATCH must repeat the current `ssl.method`/`type` (a different method re-issues the
        certificate); pass the method if known, otherwise it is read first with one GET.
        """
        if method is None:
            method = self.get(hostname_id, priority=priority).ssl_method or DCVMethod.HTTP
        # Whatever the current method is (including "email" set outside DCVaaS), repeat it.
        body = {"ssl": {"method": str(method), "type": "dv"}}
        path = self._hostname_path(hostname_id)
        payload = self._request("PATCH", path, json=body, priority=priority)
        return parse_hostname(payload.get("result"))

    def delete(self, hostname_id: str, *, priority: Priority = "user") -> bool:
        """Delete the hostname and its certificates. Returns False if it was already gone."""
        try:
            self._request("DELETE", self._hostname_path(hostname_id), priority=priority)
        except CloudflareNotFoundError:
            return False
        except CloudflarePermanentError as exc:
            if exc.status == 404 and not exc.codes:
                return False
            raise
        return True

    def iter_pages(
        self,
        *,
        hostname: str | None = None,
        hostname_status: str | None = None,
        ssl_status: str | None = None,
        per_page: int = MAX_PER_PAGE,
        priority: Priority = "bulk",
    ) -> Iterator[HostnamePage]:
        """Yield the zone's (filtered) hostnames page by page, for the sync loop.

        Stops on an empty page, on `page >= total_pages` when Cloudflare sends it, or on a
        short page; never yields an empty page.
        """
        if not MIN_PER_PAGE <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between {MIN_PER_PAGE} and {MAX_PER_PAGE}")
        filters = {
            "hostname": hostname,
            "hostname_status": hostname_status,
            "ssl_status": ssl_status,
        }
        params: dict[str, Any] = {k: str(v) for k, v in filters.items() if v}
        page = 1
        previous_ids: tuple[str, ...] | None = None
        while True:
            query = {**params, "page": page, "per_page": per_page}
            payload = self._request("GET", "/custom_hostnames", params=query, priority=priority)
            result = payload.get("result")
            items = tuple(parse_hostname(r) for r in result) if isinstance(result, list) else ()
            info = _dict(payload.get("result_info"))
            total_pages = _int(info.get("total_pages"))
            ids = tuple(item.id for item in items)
            if not items or ids == previous_ids:
                # An empty page ends it; so does a server that ignores `page` and repeats itself,
                # which would otherwise loop forever.
                return
            yield HostnamePage(
                items=items,
                page=page,
                per_page=per_page,
                total_count=_int(info.get("total_count")),
                total_pages=total_pages,
            )
            if (total_pages is not None and page >= total_pages) or len(items) < per_page:
                return
            previous_ids = ids
            page += 1

    def list(
        self,
        *,
        hostname: str | None = None,
        hostname_status: str | None = None,
        ssl_status: str | None = None,
        per_page: int = MAX_PER_PAGE,
        priority: Priority = "user",
    ) -> builtins.list[CustomHostname]:
        """Every hostname matching the filters (all pages)."""
        return [
            item
            for page in self.iter_pages(
                hostname=hostname,
                hostname_status=hostname_status,
                ssl_status=ssl_status,
                per_page=per_page,
                priority=priority,
            )
            for item in page.items
        ]

    def find_by_hostname(
        self, hostname: str, *, priority: Priority = "user"
    ) -> CustomHostname | None:
        """The custom hostname named exactly `hostname`, or None."""
        wanted = hostname.strip().rstrip(".").lower()
        for item in self.list(hostname=wanted, priority=priority):
            if item.hostname.lower() == wanted:
                return item
        return None

    # -- fallback origin and quota -----------------------------------------------------------
    def get_fallback_origin(self, *, priority: Priority = "user") -> FallbackOrigin | None:
        """The zone's fallback origin, or None when none is set."""
        try:
            payload = self._request("GET", "/custom_hostnames/fallback_origin", priority=priority)
        except CloudflarePermanentError as exc:
            # No fallback origin yet; a 404 about routing (7000/7003) is a wrong zone instead.
            if exc.status == 404 and not set(exc.codes) & ROUTING_CODES:
                return None
            raise
        return _parse_fallback(payload.get("result"))

    def set_fallback_origin(self, origin: str, *, priority: Priority = "user") -> FallbackOrigin:
        """Point the zone's fallback origin at `origin` (a proxied record in the SaaS zone)."""
        payload = self._request(
            "PUT",
            "/custom_hostnames/fallback_origin",
            json={"origin": origin.strip().rstrip(".").lower()},
            priority=priority,
        )
        parsed = _parse_fallback(payload.get("result"))
        return parsed or FallbackOrigin(origin, "", (), None, None)

    def get_quota(self, *, priority: Priority = "user") -> Quota:
        """Custom hostnames used, allocated (soft limit) and the hard cap."""
        payload = self._request("GET", "/custom_hostnames/quota", priority=priority)
        result = _dict(payload.get("result"))
        allocated = _int(result.get("allocated")) or 0
        used = _int(result.get("used")) or 0
        exceeded = result.get("exceeded")
        return Quota(
            allocated=allocated,
            used=used,
            hard_cap=_int(result.get("hard_cap")),
            exceeded=exceeded if isinstance(exceeded, bool) else used >= allocated > 0,
        )

    # -- transport ---------------------------------------------------------------------------
    @staticmethod
    def _hostname_path(hostname_id: str) -> str:
        if not hostname_id or not isinstance(hostname_id, str):
            raise ValueError("a custom hostname id is required")
        return "/custom_hostnames/" + quote(hostname_id, safe="")

    def _spend(self, priority: Priority) -> None:
        try:
            self.budget.acquire(priority=priority, wait=True, timeout=self.max_wait)
        except RateBudgetExhausted as exc:
            raise CloudflareRateLimitedError(
                "Our shared Cloudflare request budget is spent for now", retry_after=exc.retry_after
            ) from exc

    def _backoff(self, attempt: int) -> float:
        # Capped exponential backoff with "equal jitter": at least half the step, so retries
        # from many processes spread out but never come back at once.
        step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - not security

    def _request(
        self,
        method: str,
        path: str,
        *,
        priority: Priority,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        base = _required_setting("CLOUDFLARE_API_BASE").rstrip("/")
        token = _required_setting("CLOUDFLARE_API_TOKEN")
        zone = _required_setting("CLOUDFLARE_ZONE_ID")
        url = f"{base}/zones/{quote(zone, safe='')}{path}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        timeout = (
            float(settings.CLOUDFLARE_CONNECT_TIMEOUT),
            float(settings.CLOUDFLARE_READ_TIMEOUT),
        )
        max_retries = max(0, int(settings.CLOUDFLARE_MAX_RETRIES))
        attempt = 0
        while True:
            attempt += 1
            self._spend(priority)
            with self._calls_lock:
                self._calls += 1
            started = time.monotonic()
            try:
                response = self._session.request(
                    method, url, params=params, json=json, headers=headers, timeout=timeout
                )
            except requests.RequestException as exc:
                elapsed = time.monotonic() - started
                logger.warning(
                    "cloudflare %s %s -> %s attempt=%d elapsed=%.3fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    elapsed,
                )
                error: CloudflareError = CloudflareTransientError(
                    f"No answer from Cloudflare ({type(exc).__name__})"
                )
            else:
                elapsed = time.monotonic() - started
                logger.info(
                    "cloudflare %s %s -> %d attempt=%d elapsed=%.3fs",
                    method,
                    path,
                    response.status_code,
                    attempt,
                    elapsed,
                )
                outcome = self._outcome(response)
                if isinstance(outcome, dict):
                    return outcome
                error = outcome
            if attempt > max_retries or not isinstance(error, CloudflareTransientError):
                raise error
            wait = self._backoff(attempt)
            if error.retry_after is not None:
                wait = max(wait, error.retry_after) if error.status != 429 else error.retry_after
            if wait > self.max_wait:
                raise error
            self._sleep(wait)

    def _outcome(self, response: requests.Response) -> dict[str, Any] | CloudflareError:
        now = self._clock()
        headers = response.headers
        if not response.content.strip():
            payload: Any = {}  # e.g. a DELETE answered with an empty body
        else:
            try:
                payload = response.json()
            except ValueError:
                payload = None
        status = response.status_code
        if 200 <= status < 300:
            remaining = _remaining(headers)
            reset = rate_limit_wait(headers, now)
            if remaining == 0 and reset:
                # Cloudflare says the token's allowance is used up (by us or anything else
                # sharing the token): stop everyone before it starts answering 429.
                self.budget.pause_until(now + reset)
            if isinstance(payload, dict) and payload.get("success", True) is not False:
                return payload
            if payload is None:
                return CloudflareTransientError(
                    "Cloudflare sent an unreadable answer", status=status
                )
        body = _dict(payload)
        errors = [_dict(e) for e in body.get("errors") or [] if isinstance(e, dict)]
        chain = [
            _dict(c) for e in errors for c in e.get("error_chain") or [] if isinstance(c, dict)
        ]
        codes = tuple(c for c in (_int(e.get("code")) for e in errors + chain) if c is not None)
        message = "; ".join(_str(e.get("message")) for e in errors if e.get("message"))
        message = message or f"Cloudflare answered HTTP {status} {response.reason or ''}".strip()
        if status == 429 or set(codes) & RATE_LIMIT_CODES:
            wait = rate_limit_wait(headers, now)
        else:
            # Only an explicit Retry-After (e.g. on a 503) delays a retry of other errors: the
            # Ratelimit header rides on every answer and says when the *window* resets.
            retry_after = headers.get("Retry-After")
            wait = _seconds_until(retry_after, now) if retry_after else None
        error = classify_error(status, codes, message, retry_after=wait)
        if isinstance(error, CloudflareRateLimitedError):
            # Everyone sharing the token is blocked, not just this call: pause the budget.
            if error.retry_after is None:
                # Without a reset header assume the documented block: the whole window.
                error.retry_after = float(settings.CLOUDFLARE_RATE_WINDOW)
            self.budget.pause_until(now + error.retry_after)
        return error


def _parse_fallback(data: Any) -> FallbackOrigin | None:
    data = _dict(data)
    if not data.get("origin"):
        return None
    return FallbackOrigin(
        origin=_str(data.get("origin")),
        status=_str(data.get("status")),
        errors=_messages(data.get("errors")),
        created_at=parse_datetime(data.get("created_at")),
        updated_at=parse_datetime(data.get("updated_at")),
    )
