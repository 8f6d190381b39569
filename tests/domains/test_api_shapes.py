"""The API's hand-written domain output is exactly what DRF's declared fields would produce.

`DomainOutputSerializer.to_representation` builds the dict by hand for speed; the declared
fields (which the OpenAPI schema is made from) remain the reference. Domains here cover every
status, with and without records, errors, a certificate and optional dates.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from domains.api import DomainOutputSerializer
from domains.cloudflare import CustomHostname, TxtRecord
from domains.models import Domain, DomainStatus
from domains.services import records_for

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _remote(hostname: str, *, ownership: bool, ssl_method: str) -> CustomHostname:
    return CustomHostname(
        id="",
        hostname=hostname,
        status="pending",
        ssl_status="pending_validation",
        ssl_method=ssl_method,
        verification_errors=(),
        ownership_txt=(
            TxtRecord(name=f"_cf-custom-hostname.{hostname}", value="3f1c5e0b")
            if ownership
            else None
        ),
        ownership_http=None,
        validation_txt=(TxtRecord(name=f"_acme-challenge.{hostname}", value='ab<cd>&"ef'),),
        validation_http=(),
        validation_cname=(),
        validation_errors=(),
        certificate_issuer=None,
        certificate_expires_at=None,
        created_at=None,
    )


def _domain(status: str, **fields: object) -> Domain:
    hostname = str(fields.pop("hostname", f"{status}.client.test-customer.dev"))
    defaults: dict[str, object] = {
        "id": uuid.uuid4(),
        "hostname": hostname,
        "status": status,
        "created_at": NOW - timedelta(days=3),
        "updated_at": NOW,
    }
    return Domain(**(defaults | fields))


DOMAINS = {
    "registering, nothing from Cloudflare yet": _domain(DomainStatus.REGISTERING),
    "registering after a timeout": _domain(
        DomainStatus.REGISTERING, last_error="Cloudflare timed out."
    ),
    "pending with TXT records and errors": _domain(
        DomainStatus.PENDING,
        cloudflare_id="0b1c2d3e",
        cloudflare_status="pending",
        ssl_status="pending_validation",
        dns_records=records_for(
            "pending.client.test-customer.dev",
            _remote("pending.client.test-customer.dev", ownership=True, ssl_method="txt"),
        ),
        verification_errors=["custom hostname does not CNAME to this zone."],
        validation_errors=["caa_error: <blocked> & more"],
        last_synced_at=NOW - timedelta(minutes=2),
    ),
    "active with a certificate": _domain(
        DomainStatus.ACTIVE,
        cloudflare_id="1a2b",
        cloudflare_status="active",
        ssl_status="active",
        dns_records=records_for(
            "active.client.test-customer.dev",
            _remote("active.client.test-customer.dev", ownership=False, ssl_method="http"),
        ),
        certificate_issuer="Google Trust Services",
        certificate_expires_at=NOW + timedelta(days=80),
        activated_at=NOW - timedelta(days=2),
        last_synced_at=NOW,
    ),
    "active without a certificate date": _domain(
        DomainStatus.ACTIVE, cloudflare_status="active", ssl_status="active"
    ),
    "failed: moved": _domain(
        DomainStatus.FAILED,
        cloudflare_status="moved",
        ssl_status="pending_validation",
        verification_errors=["custom hostname does not CNAME to this zone."],
    ),
    "failed: blocked, with a status we do not know": _domain(
        DomainStatus.FAILED, cloudflare_status="blocked", ssl_status="some_new_status"
    ),
    "deleting after an error": _domain(
        DomainStatus.DELETING, cloudflare_id="9f", last_error="Cloudflare answered 500."
    ),
    "a name with an internationalised label": _domain(
        DomainStatus.PENDING, hostname="xn--bcher-kva.client.test-customer.dev"
    ),
}


def _drf_output(domain: Domain) -> dict[str, object]:
    """What DRF makes of the declared fields, skipping the hand-written method."""
    return dict(serializers.Serializer.to_representation(DomainOutputSerializer(), domain))


@pytest.mark.parametrize("case", list(DOMAINS))
@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_the_fast_domain_output_equals_drfs_for_every_kind_of_domain(case: str, zone: str) -> None:
    domain = DOMAINS[case]

    with timezone.override(zone):
        fast = DomainOutputSerializer(domain).data
        reference = _drf_output(domain)

    assert fast == reference
    assert list(fast) == list(reference)  # the same key order, so the JSON is the same too


def test_a_list_uses_the_fast_output_for_every_item() -> None:
    domains = list(DOMAINS.values())

    data = DomainOutputSerializer(domains, many=True).data

    assert [dict(item) for item in data] == [_drf_output(domain) for domain in domains]
