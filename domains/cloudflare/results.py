"""What Cloudflare's answers become: known values to compare with, and frozen results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
    # The custom origin server (a DNS record's name in our zone) and SNI; "" when unset.
    custom_origin_server: str = ""
    custom_origin_sni: str = ""
    # Set by `CloudflareClient.create` when it had to delete a hostname Cloudflare kept as
    # deleted (or pending deletion) under the same name before it could create this one.
    replaced_id: str = ""

    @property
    def is_active(self) -> bool:
        """Both validations passed: the hostname serves with our certificate."""
        return self.status == HostnameStatus.ACTIVE and self.ssl_status == SSLStatus.ACTIVE

    @property
    def is_gone(self) -> bool:
        """Cloudflare keeps the name but no longer serves it: deleted, or about to be."""
        return self.status in (HostnameStatus.DELETED, HostnameStatus.PENDING_DELETION)

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


@dataclass(frozen=True)
class DnsRecord:
    """One A, AAAA or CNAME record of the zone (the records tenant origins are made of)."""

    id: str
    type: str
    name: str  # complete, lower case
    content: str
    proxied: bool
    comment: str


@dataclass(frozen=True)
class AlertType:
    type: str  # the value a notification policy's `alert_type` takes
    display_name: str


@dataclass(frozen=True)
class Destination:
    """A webhook destination of the account's Notifications (its secret is never returned)."""

    id: str
    name: str
    url: str


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    alert_type: str
    enabled: bool
    webhook_ids: tuple[str, ...]
