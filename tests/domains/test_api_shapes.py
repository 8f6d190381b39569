"""The API's domain output, for every kind of domain, is what its OpenAPI schema documents.

One set of DRF serializers writes the answers and feeds the schema. Domains here cover every
status, with and without records, errors, a certificate and optional dates.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from openapi_schema_validator import OAS30Validator
from rest_framework.renderers import JSONRenderer

from domains.cloudflare import CustomHostname, TxtRecord
from domains.models import Domain, DomainStatus
from domains.serializers import DomainOutputSerializer
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


def _nullable_refs(node: Any) -> Any:
    """OpenAPI 3.0 writes a nullable reference as `allOf: [ref], nullable: true`, which the
    validator reads as "the reference, and never null": say "the reference, or null"."""
    if isinstance(node, dict):
        node = {key: _nullable_refs(value) for key, value in node.items()}
        if node.get("nullable") and "allOf" in node:
            return {"anyOf": [{"allOf": node.pop("allOf")}, {"enum": [None]}], **node}
        return node
    if isinstance(node, list):
        return [_nullable_refs(item) for item in node]
    return node


@pytest.fixture(scope="module")
def domain_schema() -> OAS30Validator:
    """A validator for the domain as the OpenAPI schema documents it (drf-spectacular's own
    output, from the same serializers that write the answers)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # The reference resolves inside this document, which carries every component.
    components = _nullable_refs(schema["components"])
    document = {"$ref": "#/components/schemas/DomainOutput", "components": components}
    return OAS30Validator(document, format_checker=OAS30Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("case", list(DOMAINS))
@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_every_kind_of_domain_is_answered_as_the_schema_documents(
    case: str, zone: str, domain_schema: OAS30Validator
) -> None:
    with timezone.override(zone):
        data = json.loads(JSONRenderer().render(DomainOutputSerializer(DOMAINS[case]).data))

    domain_schema.validate(data)
    assert data["id"] == str(DOMAINS[case].id)
    assert (data["certificate"] is None) == (DOMAINS[case].certificate_expires_at is None)


def test_a_time_is_written_in_utc_with_z_whatever_time_zone_is_active() -> None:
    domain = DOMAINS["active with a certificate"]

    with timezone.override("UTC"):
        utc = DomainOutputSerializer(domain).data
    with timezone.override("America/New_York"):
        new_york = DomainOutputSerializer(domain).data

    assert utc["updated_at"] == "2026-03-01T12:30:15.123456Z"
    # The API names its zone: a request that activated another gets the same instant in UTC.
    assert new_york["updated_at"] == "2026-03-01T12:30:15.123456Z"
    assert utc["certificate"]["expires_at"].endswith("Z")
