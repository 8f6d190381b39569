"""Cloudflare's official Python SDK (`cloudflare` 5.9) runs against the simulator unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cloudflare import Cloudflare, ConflictError, NotFoundError, RateLimitError

from sandbox.cloudflare import CloudflareSandbox


@pytest.fixture
def sdk(cloudflare_sim: CloudflareSandbox) -> Iterator[Cloudflare]:
    client = Cloudflare(
        api_token=cloudflare_sim.token, base_url=cloudflare_sim.base_url, max_retries=0
    )
    yield client
    client.close()


def test_the_sdk_creates_gets_lists_edits_and_deletes_hostnames(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare
) -> None:
    zone = cloudflare_sim.zone_id
    created = sdk.custom_hostnames.create(
        zone_id=zone,
        hostname="shop.test-customer.dev",
        ssl={"method": "http", "type": "dv", "settings": {"min_tls_version": "1.2"}},
        custom_metadata={"tenant": "t1"},
    )
    for i in range(11):
        sdk.custom_hostnames.create(zone_id=zone, hostname=f"h{i:02d}.test-customer.dev")

    fetched = sdk.custom_hostnames.get(created.id, zone_id=zone)
    listed = list(sdk.custom_hostnames.list(zone_id=zone, per_page=5))
    cloudflare_sim.set_cname("shop.test-customer.dev")
    edited = sdk.custom_hostnames.edit(
        created.id, zone_id=zone, ssl={"method": "http", "type": "dv"}
    )
    deleted = sdk.custom_hostnames.delete(created.id, zone_id=zone)

    assert created.status == "pending"
    assert created.ssl is not None
    assert created.ssl.method == "http"
    assert fetched.id == created.id
    assert fetched.custom_metadata == {"tenant": "t1"}
    assert len(listed) == 12
    assert len({h.id for h in listed}) == 12
    list_pages = [
        r.query.get("page", ["1"])[0]
        for r in cloudflare_sim.requests
        if r.method == "GET" and r.path.endswith("custom_hostnames")
    ]
    assert list_pages == ["1", "2", "3", "4"]  # the SDK stops at the first empty page
    assert edited.status == "active"
    assert edited.ssl is not None
    assert edited.ssl.status == "active"
    assert deleted.id == created.id
    assert len(list(sdk.custom_hostnames.list(zone_id=zone, per_page=50))) == 11


def test_the_sdk_filters_by_exact_hostname(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare
) -> None:
    zone = cloudflare_sim.zone_id
    sdk.custom_hostnames.create(zone_id=zone, hostname="a.test-customer.dev")
    sdk.custom_hostnames.create(zone_id=zone, hostname="b.test-customer.dev")

    found = list(sdk.custom_hostnames.list(zone_id=zone, hostname={"exact": "b.test-customer.dev"}))

    assert [h.hostname for h in found] == ["b.test-customer.dev"]


def test_the_sdk_raises_conflict_error_1406_for_a_duplicate(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare
) -> None:
    sdk.custom_hostnames.create(zone_id=cloudflare_sim.zone_id, hostname="a.test-customer.dev")

    with pytest.raises(ConflictError) as raised:
        sdk.custom_hostnames.create(zone_id=cloudflare_sim.zone_id, hostname="a.test-customer.dev")

    assert raised.value.status_code == 409
    assert [e.code for e in raised.value.errors] == [1406]


def test_the_sdk_raises_not_found_error_1436_for_a_missing_hostname(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare
) -> None:
    with pytest.raises(NotFoundError) as raised:
        sdk.custom_hostnames.get(
            "0d89c70d-ad9f-4843-b99f-6cc0252067e9", zone_id=cloudflare_sim.zone_id
        )

    assert [e.code for e in raised.value.errors] == [1436]


def test_the_sdk_sets_and_reads_the_fallback_origin_and_the_quota(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare
) -> None:
    zone = cloudflare_sim.zone_id
    updated = sdk.custom_hostnames.fallback_origin.update(zone_id=zone, origin="fb.saas-test.dev")
    fetched = sdk.custom_hostnames.fallback_origin.get(zone_id=zone)
    sdk.custom_hostnames.create(zone_id=zone, hostname="a.test-customer.dev")
    quota = sdk.custom_hostnames.quota.get(zone_id=zone)

    assert updated is not None
    assert updated.origin == "fb.saas-test.dev"
    assert fetched is not None
    assert fetched.status == "active"
    assert quota is not None
    assert (quota.used, quota.allocated, quota.exceeded) == (1, 100, False)


def test_the_sdk_raises_rate_limit_error_on_a_429(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare
) -> None:
    cloudflare_sim.inject_fault("429", count=1)

    with pytest.raises(RateLimitError) as raised:
        sdk.custom_hostnames.quota.get(zone_id=cloudflare_sim.zone_id)

    assert [e.code for e in raised.value.errors] == [971]


def test_the_sdk_retries_a_server_error_and_honours_retry_after(
    cloudflare_sim: CloudflareSandbox,
) -> None:
    cloudflare_sim.inject_fault("429", count=1, retry_after=1)
    cloudflare_sim.inject_fault("503", count=1, path_contains="/quota")
    client = Cloudflare(
        api_token=cloudflare_sim.token, base_url=cloudflare_sim.base_url, max_retries=2
    )

    with client:
        quota = client.custom_hostnames.quota.get(zone_id=cloudflare_sim.zone_id)

    assert quota is not None
    assert quota.used == 0
    assert [r.status for r in cloudflare_sim.requests] == [429, 503, 200]


def test_the_sdk_signs_in_with_the_accounts_email_and_global_api_key(
    cloudflare_sim: CloudflareSandbox,
) -> None:
    client = Cloudflare(
        api_email=cloudflare_sim.api_email,
        api_key=cloudflare_sim.api_key,
        base_url=cloudflare_sim.base_url,
        max_retries=0,
    )
    try:
        created = client.custom_hostnames.create(
            zone_id=cloudflare_sim.zone_id, hostname="key.test-customer.dev"
        )
        fetched = client.custom_hostnames.get(created.id, zone_id=cloudflare_sim.zone_id)
    finally:
        client.close()

    assert fetched.hostname == "key.test-customer.dev"
