"""schemathesis against /api/v1/schema/: no 5xx, and every answer matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Organization, User
from accounts.services import api_token_create
from dcvaas.wsgi import application  # noqa: E402 - Django is set up by pytest-django first
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
# Every call below carries a valid token: a generated (or deliberately broken) Authorization
# header would be replaced, and a "negative" case that is only negative there would answer 200.
# Missing and bad tokens are tested in test_api.py.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture
def token(acme: Organization, alice: User, settings) -> str:  # noqa: F811
    settings.API_THROTTLE_RATE = "100000/min"
    settings.CHECK_NOW_INTERVAL = 1
    return api_token_create(organization=acme, created_by=alice, name="fuzz")[1]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.django_db(transaction=True)
def test_the_api_never_fails_and_always_answers_as_documented(
    case, token: str, cloudflare_sim: CloudflareSandbox, dns_sandbox: DnsSandbox
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
    )
