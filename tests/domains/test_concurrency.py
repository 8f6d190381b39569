"""The plan limit holds under concurrent requests, on PostgreSQL (CI runs it there)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.db import connection

from accounts.models import Organization, User
from accounts.services import api_token_create
from domains.models import Domain
from sandbox.cloudflare import CloudflareSandbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks are a PostgreSQL matter; CI sets DATABASE_URL and runs this",
    ),
]


def test_simultaneous_adds_at_the_limit_never_exceed_the_plan(
    live_server: Any, acme: Organization, alice: User, cloudflare_sim: CloudflareSandbox
) -> None:
    raw = api_token_create(organization=acme, created_by=alice, name="burst")[1]

    def add(n: int) -> int:
        response = requests.post(
            f"{live_server.url}/api/v1/domains",
            json={"hostname": f"burst{n}.acme.test-customer.dev"},
            headers={"Authorization": f"Bearer {raw}"},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(add, range(12)))

    assert sorted(codes) == [201] * 3 + [402] * 9
    assert Domain.objects.filter(organization=acme).count() == 3
    assert len(cloudflare_sim.hostnames()) == 3
