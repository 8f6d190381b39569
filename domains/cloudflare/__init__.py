"""The only package that talks to Cloudflare: custom hostnames of Cloudflare for SaaS, and the
DNS records of the SaaS zone that tenant origins are made of.

Built on `requests` against the contract in the project notes (Cloudflare's v4 API). Callers get
frozen dataclasses and one error hierarchy (`CloudflareError`); no vendor JSON leaves this
package. Every call:

- reads its credentials from settings at call time (`ImproperlyConfigured` names what is missing);
- spends one request of the shared rate budget (`domains.rate_budget`) at the caller's priority
  ("user" for people, "bulk" for the sync loop);
- has a connect and a read timeout;
- is retried, a bounded number of times with capped exponential backoff and jitter, only when
  the failure is transient (network, 5xx, 1500) or a 429 whose wait is short; other 4xx are
  final (a duplicate create is sent exactly once, then adopted);
- logs one line (method, path, status, attempt, elapsed), never the token.

Inside: `results` (known values and the frozen results), `errors` (the hierarchy and its
classification by error code), `parsing` (JSON and rate-limit headers into results) and
`client` (`CloudflareClient`). Import from the package, not the modules.
"""

from domains.cloudflare.client import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_PER_PAGE,
    MAX_UNBRANDED_LENGTH,
    MIN_PER_PAGE,
    CloudflareClient,
    cname_target,
)
from domains.cloudflare.errors import (
    INVALID_HOSTNAME_MESSAGES,
    RATE_LIMIT_CODES,
    ROUTING_CODES,
    CloudflareAuthError,
    CloudflareDeadlineError,
    CloudflareDuplicateError,
    CloudflareError,
    CloudflareInvalidHostnameError,
    CloudflareNotFoundError,
    CloudflareOriginNotEntitledError,
    CloudflareOriginRejectedError,
    CloudflarePermanentError,
    CloudflareQuotaError,
    CloudflareRateLimitedError,
    CloudflareRecordConflictError,
    CloudflareTransientError,
    classify_error,
)
from domains.cloudflare.parsing import parse_datetime, parse_hostname, rate_limit_wait
from domains.cloudflare.results import (
    AlertType,
    CnameRecord,
    CustomHostname,
    DCVMethod,
    Destination,
    DnsRecord,
    FallbackOrigin,
    FallbackOriginStatus,
    HostnamePage,
    HostnameStatus,
    HttpToken,
    Policy,
    Quota,
    SSLStatus,
    TxtRecord,
)

__all__ = [
    "AlertType",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "INVALID_HOSTNAME_MESSAGES",
    "MAX_PER_PAGE",
    "MAX_UNBRANDED_LENGTH",
    "MIN_PER_PAGE",
    "RATE_LIMIT_CODES",
    "ROUTING_CODES",
    "CloudflareAuthError",
    "CloudflareDeadlineError",
    "CloudflareClient",
    "CloudflareDuplicateError",
    "CloudflareError",
    "CloudflareInvalidHostnameError",
    "CloudflareNotFoundError",
    "CloudflareOriginNotEntitledError",
    "CloudflareOriginRejectedError",
    "CloudflarePermanentError",
    "CloudflareQuotaError",
    "CloudflareRateLimitedError",
    "CloudflareRecordConflictError",
    "CloudflareTransientError",
    "CnameRecord",
    "CustomHostname",
    "DCVMethod",
    "Destination",
    "DnsRecord",
    "FallbackOrigin",
    "FallbackOriginStatus",
    "HostnamePage",
    "HostnameStatus",
    "HttpToken",
    "Policy",
    "Quota",
    "SSLStatus",
    "TxtRecord",
    "classify_error",
    "cname_target",
    "parse_datetime",
    "parse_hostname",
    "rate_limit_wait",
]
