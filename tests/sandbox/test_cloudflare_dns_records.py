"""The Cloudflare simulator's DNS records and custom origin servers (domains/cloudflare/CONTRACT.md
§9–§10).

Every answer is checked against the schemas by the `cloudflare_sim` fixture; the SDK test shows
Cloudflare's own client works against it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cloudflare import Cloudflare

from sandbox.cloudflare import CloudflareSandbox
from tests.fixtures.cloudflare import CloudflareHttp

ORIGIN = "k7f3q9.origins.pcnaid.com"


class Records:
    def __init__(self, sim: CloudflareSandbox) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.token}"
        self.base = f"{sim.base_url}/zones/{sim.zone_id}/dns_records"

    def call(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.call("POST", json=body)
        assert response.status_code == 200, response.text
        return response.json()["result"]


@pytest.fixture
def records(cloudflare_sim: CloudflareSandbox) -> Iterator[Records]:
    client = Records(cloudflare_sim)
    yield client
    client.session.close()


def error_code(response: requests.Response) -> int:
    return response.json()["errors"][0]["code"]


def test_a_record_is_created_read_changed_overwritten_and_deleted(records: Records) -> None:
    created = records.create(
        type="CNAME", name=ORIGIN, content="app.acme.dev", proxied=True, ttl=1, comment="dcvaas:1"
    )
    read = records.call("GET", f"/{created['id']}").json()["result"]
    patched = records.call("PATCH", f"/{created['id']}", json={"content": "new.acme.dev"})
    put = records.call(
        "PUT",
        f"/{created['id']}",
        json={"type": "A", "name": ORIGIN, "content": "198.18.0.7", "proxied": True, "ttl": 1},
    )
    deleted = records.call("DELETE", f"/{created['id']}")
    gone = records.call("GET", f"/{created['id']}")

    assert len(created["id"]) == 32
    assert read == created
    assert created["proxied"] is True
    assert created["comment"] == "dcvaas:1"
    assert patched.json()["result"]["content"] == "new.acme.dev"
    assert put.json()["result"]["type"] == "A"
    assert put.json()["result"]["id"] == created["id"]
    assert "comment" not in put.json()["result"]  # PUT overwrites the whole record
    assert deleted.json()["result"] == {"id": created["id"]}
    assert (gone.status_code, error_code(gone)) == (404, 81044)


def test_a_relative_name_gets_the_zone_and_proxied_defaults_to_false(records: Records) -> None:
    created = records.create(type="A", name="relative", content="198.18.0.1", ttl=1)

    assert created["name"] == "relative.pcnaid.com"
    assert created["proxied"] is False


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "A", "name": ORIGIN, "content": "app.acme.dev"}, 9005),
        ({"type": "AAAA", "name": ORIGIN, "content": "198.18.0.1"}, 9005),
        ({"type": "CNAME", "name": ORIGIN, "content": ORIGIN}, 9039),
        ({"type": "MX", "name": ORIGIN, "content": "mail.acme.dev"}, 9004),
        ({"type": "A", "name": ORIGIN, "content": "198.18.0.1", "ttl": 5}, 9021),
    ],
)
def test_a_record_whose_content_does_not_fit_its_type_is_refused(
    records: Records, body: dict[str, Any], code: int
) -> None:
    response = records.call("POST", json=body)

    assert (response.status_code, error_code(response)) == (400, code)


def test_a_name_holds_a_cname_or_addresses_never_both_and_never_the_same_twice(
    records: Records,
) -> None:
    records.create(type="A", name=ORIGIN, content="198.18.0.1")
    second_a = records.call("POST", json={"type": "A", "name": ORIGIN, "content": "198.18.0.2"})
    duplicate = records.call("POST", json={"type": "A", "name": ORIGIN, "content": "198.18.0.1"})
    cname = records.call("POST", json={"type": "CNAME", "name": ORIGIN, "content": "x.acme.dev"})
    records.create(type="CNAME", name="c." + ORIGIN, content="x.acme.dev")
    onto_cname = records.call(
        "POST", json={"type": "A", "name": "c." + ORIGIN, "content": "198.18.0.1"}
    )

    assert second_a.status_code == 200  # round robin is allowed
    assert error_code(duplicate) == 81057
    assert error_code(cname) == 81053
    assert error_code(onto_cname) == 81054


def test_the_list_filters_by_name_comment_and_type_and_pages_to_an_empty_page(
    records: Records,
) -> None:
    for index in range(3):
        records.create(
            type="CNAME",
            name=f"o{index}.origins.pcnaid.com",
            content="app.acme.dev",
            comment=f"dcvaas:origin={index}",
        )
    records.create(type="A", name="www.pcnaid.com", content="198.18.0.1")

    def names(**params: Any) -> list[str]:
        return [r["name"] for r in records.call("GET", params=params).json()["result"]]

    assert names(name="o1.origins.pcnaid.com") == ["o1.origins.pcnaid.com"]
    assert names(**{"name.exact": "O2.origins.pcnaid.com"}) == ["o2.origins.pcnaid.com"]
    assert names(comment="dcvaas:origin=0") == ["o0.origins.pcnaid.com"]
    assert len(names(**{"comment.startswith": "dcvaas:"})) == 3
    assert names(type="A") == ["www.pcnaid.com"]
    assert len(names(per_page=2, page=2)) == 2
    assert names(per_page=2, page=3) == []


def test_a_custom_origin_server_needs_a_dns_record_of_its_name(
    cloudflare_http: CloudflareHttp, records: Records
) -> None:
    missing = cloudflare_http.request(
        "POST", json={"hostname": "shop.acme-customer.dev", "custom_origin_server": ORIGIN}
    )
    records.create(type="CNAME", name=ORIGIN, content="app.acme.dev", proxied=True)
    created = cloudflare_http.create("shop.acme-customer.dev", custom_origin_server=ORIGIN)

    assert (missing.status_code, error_code(missing)) == (400, 1421)
    assert created["custom_origin_server"] == ORIGIN


@pytest.mark.parametrize(
    ("server", "code"),
    [
        ("198.18.0.1", 1415),
        ("bad_name!.pcnaid.com", 1415),
        ("origin.localhost", 1417),
        ("origin.example.com", 1419),
        ("*.origins.pcnaid.com", 1420),
    ],
)
def test_a_custom_origin_server_that_is_not_a_usable_hostname_is_explained(
    cloudflare_http: CloudflareHttp, server: str, code: int
) -> None:
    response = cloudflare_http.request(
        "POST", json={"hostname": "shop.acme-customer.dev", "custom_origin_server": server}
    )

    assert (response.status_code, error_code(response)) == (400, code)


def test_a_zone_without_the_entitlement_answers_1414_and_still_takes_plain_hostnames(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, records: Records
) -> None:
    cloudflare_sim.configure(custom_origins=False)
    records.create(type="CNAME", name=ORIGIN, content="app.acme.dev", proxied=True)

    refused = cloudflare_http.request(
        "POST", json={"hostname": "shop.acme-customer.dev", "custom_origin_server": ORIGIN}
    )
    plain = cloudflare_http.create("shop.acme-customer.dev")

    assert (refused.status_code, error_code(refused)) == (403, 1414)
    assert "custom_origin_server" not in plain


def test_the_edge_follows_the_origin_record_and_fails_with_1016_once_it_is_gone(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, records: Records
) -> None:
    record = records.create(type="CNAME", name=ORIGIN, content="app.acme.dev", proxied=True)
    created = cloudflare_http.create("shop.acme-customer.dev")
    before = cloudflare_sim.route("shop.acme-customer.dev")
    cloudflare_http.request(
        "PATCH", f"/{created['id']}", json={"custom_origin_server": ORIGIN}
    ).raise_for_status()
    on_origin = cloudflare_sim.route("shop.acme-customer.dev")
    records.call("PATCH", f"/{record['id']}", json={"content": "moved.acme.dev"})
    followed = cloudflare_sim.route("shop.acme-customer.dev")
    records.call("DELETE", f"/{record['id']}")
    broken = cloudflare_sim.route("shop.acme-customer.dev")

    assert before["error"] == 1016  # no fallback origin in this zone
    assert on_origin == {
        "origin": "app.acme.dev",
        "via": ORIGIN,
        "sni": ORIGIN,
        "host": "shop.acme-customer.dev",
    }
    assert followed["origin"] == "moved.acme.dev"
    assert broken["error"] == 1016


def test_the_sdk_manages_dns_records_unchanged(cloudflare_sim: CloudflareSandbox) -> None:
    zone = cloudflare_sim.zone_id
    with Cloudflare(
        api_token=cloudflare_sim.token, base_url=cloudflare_sim.base_url, max_retries=0
    ) as sdk:
        created = sdk.dns.records.create(
            zone_id=zone,
            type="CNAME",
            name=ORIGIN,
            content="app.acme.dev",
            proxied=True,
            ttl=1,
            comment="dcvaas:origin=1",
        )
        assert created is not None
        edited = sdk.dns.records.edit(
            created.id, zone_id=zone, type="CNAME", name=ORIGIN, content="b.acme.dev", ttl=1
        )
        listed = list(sdk.dns.records.list(zone_id=zone, name={"exact": ORIGIN}, per_page=5))
        deleted = sdk.dns.records.delete(created.id, zone_id=zone)

    assert edited is not None
    assert edited.content == "b.acme.dev"
    assert [r.id for r in listed] == [created.id]
    assert deleted is not None
    assert deleted.id == created.id


def test_the_control_page_shows_the_zone_records_and_where_each_hostnames_traffic_goes(
    cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp, records: Records
) -> None:
    cloudflare_sim.ensure_fallback_origin("fallback.pcnaid.com")
    records.create(type="A", name=ORIGIN, content="198.18.0.9", proxied=True, comment="dcvaas:x")
    cloudflare_http.create("a.acme-customer.dev", custom_origin_server=ORIGIN)
    cloudflare_http.create("b.acme-customer.dev")

    page = requests.get(
        cloudflare_sim.base_url.removesuffix("/client/v4") + "/sandbox/", timeout=10
    ).text

    assert f"198.18.0.9 <small>via {ORIGIN}, SNI {ORIGIN}</small>" in page
    assert "fallback.pcnaid.com <small>via fallback origin" in page
    assert "<td>dcvaas:x</td>" in page
