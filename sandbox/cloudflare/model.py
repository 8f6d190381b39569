"""The custom hostname record, its input checks and its lifecycle, as Cloudflare for SaaS runs them.

Nothing here does I/O: the app (`app.py`) decides whether the CNAME is in place and passes the
answer in, so the state machine can be driven by a fake clock and tested without DNS.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

HOSTNAME_STATUSES = (
    "active",
    "pending",
    "active_redeploying",
    "moved",
    "pending_deletion",
    "deleted",
    "pending_blocked",
    "pending_migration",
    "pending_provisioned",
    "test_pending",
    "test_active",
    "test_active_apex",
    "test_blocked",
    "test_failed",
    "provisioned",
    "blocked",
)
SSL_STATUSES = (
    "initializing",
    "pending_validation",
    "deleted",
    "pending_issuance",
    "pending_deployment",
    "pending_deletion",
    "pending_expiration",
    "expired",
    "active",
    "initializing_timed_out",
    "validation_timed_out",
    "issuance_timed_out",
    "deployment_timed_out",
    "deletion_timed_out",
    "pending_cleanup",
    "staging_deployment",
    "staging_active",
    "deactivating",
    "inactive",
    "backup_issued",
    "holding_deployment",
)
DCV_METHODS = ("http", "txt", "email")
BUNDLE_METHODS = ("ubiquitous", "optimal", "force")
CERTIFICATE_AUTHORITIES = ("google", "lets_encrypt", "ssl_com", "digicert")
CA_ISSUERS = {
    "google": "GoogleTrustServices",
    "lets_encrypt": "LetsEncrypt",
    "ssl_com": "SSLCorporation",
    "digicert": "DigiCertInc",
}
TIMED_OUT = tuple(s for s in SSL_STATUSES if s.endswith("_timed_out"))

NO_CNAME = "custom hostname does not CNAME to this zone."
HELD_ZONE = (
    "The hostname is associated with a held zone. "
    "Please contact the owner of this domain to have the hold removed."
)
INVALID_HOSTNAME = (
    "Invalid custom hostname. Custom hostnames have to be smaller than 256 characters in length, "
    "cannot be IP addresses, cannot contain spaces, cannot contain any special characters such as "
    "_~`!@#$%^*()=+{}[]|\\;:'\",<>/? and cannot begin or end with a '-' character. "
    "Please check your input and try again."
)
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost"})
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
# The first label of a hostname picks a failure scenario (see the package docstring's table).
SPECIAL_KINDS = ("blocked", "moved", "caa", "timeout", "servfail")
CERT_LIFETIME = timedelta(days=90)

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ALLOWED = re.compile(r"^[a-z0-9.*-]+$")


class ApiError(Exception):
    """A Cloudflare error answer: HTTP status plus one `errors[]` entry."""

    def __init__(
        self, status: int, code: int, message: str, chain: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(f"{status}/{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.chain = chain


def bad_param(detail: str) -> ApiError:
    # Cloudflare's gateway answers malformed query parameters with 6008 and the detail in an
    # error_chain (seen for per_page out of range); the custom hostnames docs list no own code.
    return ApiError(400, 6008, "Invalid request parameters", [{"code": 11000, "message": detail}])


@dataclass
class Delays:
    """Seconds between lifecycle steps; all zero makes every transition immediate."""

    records: float = 0.0  # creation -> ssl pending_validation with validation records shown
    # The customer's CNAME first seen -> validated: Cloudflare notices it at its next check.
    validation: float = 0.0
    issuance: float = 0.0  # pending_issuance -> pending_deployment
    deployment: float = 0.0  # pending_deployment -> active (also fallback origin activation)
    give_up: float = 7 * 24 * 3600.0  # end of the backoff schedule: pending -> moved
    dns_cache: float = 1.0  # how long a DNS answer is reused
    # Each hostname's validation, issuance and deployment take the delay above times a factor
    # drawn uniformly from [1 - spread, 1 + spread], fixed per hostname and step (0: exact).
    spread: float = 0.0

    def of(self, step: str, key: str) -> float:
        """Seconds `step` ("validation", "issuance", "deployment") takes for hostname `key`."""
        base = float(getattr(self, step))
        if not self.spread or not base:
            return base
        digest = hashlib.sha256(f"{key}:{step}".encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return base * (1 - self.spread + 2 * self.spread * fraction)


class ManualClock:
    """A clock that only moves when told to, for deterministic lifecycle tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def special_kind(hostname: str) -> str | None:
    """The failure scenario a hostname asks for: its first label is `blocked`, `caa-2`, ..."""
    label = hostname.split(".", 1)[0]
    for kind in SPECIAL_KINDS:
        if label == kind or label.startswith(kind + "-"):
            return kind
    return None


def acme_token() -> str:
    """A 43-character base64url token, the shape of an ACME DNS-01/HTTP-01 value."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def validate_hostname(value: object, *, base_code: int = 1407) -> str:
    """Normalise `value` or raise the 1407-1411 family error Cloudflare gives for it.

    `base_code` 1415 gives the same checks with the custom-origin-server codes (1415-1419).
    """
    offset = base_code - 1407
    invalid = ApiError(400, 1407 + offset, INVALID_HOSTNAME)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise invalid
    if not value.isascii():
        raise ApiError(
            400, 1408 + offset, "Non-ASCII hostnames are not supported; send them as punycode."
        )
    hostname = value.lower()
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        pass
    else:
        raise invalid
    if not _ALLOWED.match(hostname) or hostname.startswith("-") or hostname.endswith("-"):
        raise invalid
    labels = hostname.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise ApiError(400, 1410 + offset, "Unable to parse the custom hostname.")
    if labels[-1] in RESERVED_TLDS:
        raise ApiError(
            400,
            1409 + offset,
            "Hostnames with reserved TLDs (test, example, invalid, localhost) are not supported.",
        )
    if any(hostname == d or hostname.endswith("." + d) for d in EXAMPLE_DOMAINS):
        raise ApiError(
            400,
            1411 + offset,
            "Hostnames ending in example.com, example.net or example.org are prohibited.",
        )
    for index, label in enumerate(labels):
        if index == 0 and label == "*":
            continue
        if not _LABEL.match(label):
            raise ApiError(400, 1410 + offset, "Unable to parse the custom hostname.")
    return hostname


@dataclass
class CustomHostname:
    """One custom hostname as the simulator stores it (mutable; guarded by the app's lock)."""

    id: str
    hostname: str
    created_at: datetime
    started_at: datetime  # start of the current validation run (creation, refresh, re-issue)
    method: str = "http"
    type: str = "dv"
    ssl_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    settings: dict[str, Any] = field(default_factory=dict)
    bundle_method: str = "ubiquitous"
    wildcard: bool = False
    certificate_authority: str = "google"
    custom_metadata: dict[str, str] | None = None
    custom_origin_server: str | None = None
    custom_origin_sni: str | None = None
    status: str = "pending"
    ssl_status: str = "initializing"
    verification_errors: list[str] = field(default_factory=lambda: [NO_CNAME])
    validation_errors: list[str] = field(default_factory=list)
    ownership_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    ownership_http_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    txt_token: str = field(default_factory=acme_token)
    http_token: str = field(default_factory=acme_token)
    records_ready: bool = False
    phase_at: datetime | None = None  # when the current issuance/deployment step began
    certificates: list[dict[str, str]] = field(default_factory=list)
    # set_state() pins the state so lazy evaluation leaves it alone until a refresh.
    pinned: bool = False
    # a `timeout` hostname times out once; after a refresh it proceeds normally.
    timeout_spent: bool = False

    # -- serialisation ---------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = isoformat(value) if isinstance(value, datetime) else value
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> CustomHostname:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("created_at", "started_at", "phase_at"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name].replace("Z", "+00:00"))
        return cls(**values)

    def to_api(self) -> dict[str, Any]:
        """The object Cloudflare returns as `result` for this hostname."""
        ssl: dict[str, Any] = {
            "id": self.ssl_id,
            "type": self.type,
            "method": self.method,
            "status": self.ssl_status,
            "bundle_method": self.bundle_method,
            "wildcard": self.wildcard,
            "certificate_authority": self.certificate_authority,
            "settings": dict(self.settings),
        }
        if self.records_ready and self.ssl_status in ("pending_validation", *TIMED_OUT):
            ssl["validation_records"] = self._validation_records()
        if self.validation_errors:
            ssl["validation_errors"] = [{"message": m} for m in self.validation_errors]
        if self.certificates:
            ssl["hosts"] = [self.hostname]
            ssl["certificates"] = [dict(c) for c in self.certificates]
        result: dict[str, Any] = {
            "id": self.id,
            "hostname": self.hostname,
            "ssl": ssl,
            "status": self.status,
            "created_at": isoformat(self.created_at),
        }
        if self.verification_errors:
            result["verification_errors"] = list(self.verification_errors)
        if self.records_ready:
            result["ownership_verification"] = {
                "type": "txt",
                "name": f"_cf-custom-hostname.{self.hostname}",
                "value": self.ownership_token,
            }
            result["ownership_verification_http"] = {
                "http_url": f"http://{self.hostname}/.well-known/cf-custom-hostname-challenge/"
                f"{self.id}",
                "http_body": self.ownership_http_token,
            }
        if self.custom_metadata is not None:
            result["custom_metadata"] = dict(self.custom_metadata)
        if self.custom_origin_server is not None:
            result["custom_origin_server"] = self.custom_origin_server
        if self.custom_origin_sni is not None:
            result["custom_origin_sni"] = self.custom_origin_sni
        return result

    def _validation_records(self) -> list[dict[str, Any]]:
        txt = {
            "status": "pending",
            "txt_name": f"_acme-challenge.{self.hostname}",
            "txt_value": self.txt_token,
        }
        if self.method == "txt":
            return [txt]
        if self.method == "email":
            domain = self.hostname.split(".", 1)[1] if self.hostname.count(".") > 1 else ""
            domain = domain or self.hostname
            boxes = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
            return [{"status": "pending", "emails": [f"{box}@{domain}" for box in boxes]}]
        # HTTP DCV: Cloudflare serves the token itself once the CNAME is in place; the TXT
        # record is offered alongside for customers who cannot move DNS yet.
        http = {
            "status": "pending",
            "http_url": f"http://{self.hostname}/.well-known/acme-challenge/{self.http_token}",
            "http_body": f"{self.http_token}.{self.txt_token[:32]}",
        }
        return [http, txt]

    # -- lifecycle -------------------------------------------------------------------------

    def issue_certificate(self, issued_on: datetime) -> None:
        digest = hashlib.sha256(f"{self.ssl_id}:{isoformat(issued_on)}".encode()).hexdigest()
        self.certificates = [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, digest)),
                "issuer": CA_ISSUERS.get(self.certificate_authority, "GoogleTrustServices"),
                "serial_number": digest[:32],
                "signature": "ECDSAWithSHA256",
                "issued_on": isoformat(issued_on),
                "expires_on": isoformat(issued_on + CERT_LIFETIME),
                "fingerprint_sha256": digest,
            }
        ]

    def settled(self, *, cname_removed: bool) -> bool:
        """Whether `advance` can change nothing: pinned, or active with its certificate
        active and its CNAME not taken away."""
        return self.pinned or (
            self.status == "active" and self.ssl_status == "active" and not cname_removed
        )

    def needs_cname_check(self) -> bool:
        return not self.pinned and self.status == "pending" and self.ssl_status != "initializing"

    def advance(self, now: datetime, delays: Delays, cname: bool | None) -> bool:
        """Apply every transition due at `now`; True if anything changed.

        `cname` is whether the hostname CNAMEs to the SaaS target: None skips the check
        (the create response), False also covers "explicitly removed" for active hostnames.
        """
        if self.pinned:
            return False
        before = self.to_state()
        kind = special_kind(self.hostname)
        if self.ssl_status == "initializing":
            if now < self.started_at + timedelta(seconds=delays.records):
                return False
            self.records_ready = True
            self.ssl_status = "pending_validation"
            if kind == "timeout" and not self.timeout_spent:
                self.ssl_status = "validation_timed_out"
            elif kind == "caa":
                self.validation_errors = [f"caa_error: {self.hostname}"]
            elif kind == "servfail":
                self.validation_errors = [f"SERVFAIL looking up CAA for {self.hostname}"]
        if kind == "blocked":
            self.status, self.verification_errors = "blocked", [HELD_ZONE]
        elif kind == "moved":
            self.status, self.verification_errors = "moved", [NO_CNAME]
        elif self.status == "pending" and cname is not None:
            if cname and self._validated(now, delays):
                self.status, self.verification_errors, self.phase_at = "active", [], None
            elif not cname:
                self.phase_at = None  # taken away before Cloudflare saw it: seen anew later
                if now >= self.started_at + timedelta(seconds=delays.give_up):
                    self.status = "moved"
        elif self.status == "active" and cname is False:
            # The customer pointed DNS away after activation (Cloudflare: "moved").
            self.status, self.verification_errors = "moved", [NO_CNAME]
        self._advance_ssl(now, delays, kind)
        return self.to_state() != before

    def _validated(self, now: datetime, delays: Delays) -> bool:
        """The CNAME is in place: validated once `delays.validation` has passed since it was
        first seen (`phase_at` holds that moment while the certificate awaits validation)."""
        wait = delays.of("validation", self.id)
        if not wait:
            return True
        if self.phase_at is None:
            self.phase_at = now
        return now >= self.phase_at + timedelta(seconds=wait)

    def _advance_ssl(self, now: datetime, delays: Delays, kind: str | None) -> None:
        if (
            self.status == "active"
            and self.ssl_status == "pending_validation"
            and kind not in ("caa", "servfail")
        ):
            self.ssl_status, self.phase_at, self.validation_errors = "pending_issuance", now, []
        if self.phase_at is None:
            return
        if self.ssl_status == "pending_issuance":
            due = self.phase_at + timedelta(seconds=delays.of("issuance", self.id))
            if now < due:
                return
            self.ssl_status, self.phase_at = "pending_deployment", due
        if self.ssl_status == "pending_deployment":
            due = self.phase_at + timedelta(seconds=delays.of("deployment", self.id))
            if now < due:
                return
            self.ssl_status, self.phase_at = "active", None
            self.issue_certificate(due)

    def refresh(self, now: datetime) -> None:
        """PATCH with the same method/type: restart validation and the backoff schedule."""
        self.pinned = False
        if self.status == "active" and self.ssl_status == "active":
            return  # nothing to re-validate; Cloudflare keeps serving the certificate
        if self.ssl_status == "validation_timed_out":
            self.timeout_spent = True
        self.status, self.verification_errors = "pending", [NO_CNAME]
        if self.ssl_status in ("pending_validation", *TIMED_OUT):
            self.ssl_status = "pending_validation" if self.records_ready else "initializing"
            self.phase_at = None
        self.started_at = now

    def reissue(self, now: datetime, *, method: str, type_: str, ca: str | None) -> None:
        """A different DCV method or CA: a new certificate order with new tokens."""
        self.pinned = False
        self.method, self.type = method, type_
        if ca is not None:
            self.certificate_authority = ca
        self.ssl_id = str(uuid.uuid4())
        self.txt_token, self.http_token = acme_token(), acme_token()
        self.ssl_status, self.records_ready, self.phase_at = "initializing", False, None
        self.certificates, self.validation_errors = [], []
        if self.status != "active":
            self.status, self.verification_errors = "pending", [NO_CNAME]
        self.started_at = now

    def pin(
        self,
        *,
        status: str | None,
        ssl_status: str | None,
        verification_errors: list[str] | None,
        validation_errors: list[str] | None,
        now: datetime,
    ) -> None:
        if status is not None:
            if status not in HOSTNAME_STATUSES:
                raise ValueError(f"unknown hostname status {status!r}")
            self.status = status
        if ssl_status is not None:
            if ssl_status not in SSL_STATUSES:
                raise ValueError(f"unknown ssl status {ssl_status!r}")
            self.ssl_status = ssl_status
            if ssl_status != "initializing":
                self.records_ready = True
            if ssl_status == "active" and not self.certificates:
                self.issue_certificate(now)
        if verification_errors is not None:
            self.verification_errors = list(verification_errors)
        if validation_errors is not None:
            self.validation_errors = list(validation_errors)
        self.pinned = True
