"""Special-purpose addresses (IANA's registries, domains/dns/special.py): refused for webhook
endpoints and origins alike, as literals and as what a name resolves to, when saved and at
delivery time; an IPv6 address carrying an IPv4 one is judged by what it carries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization
from domains.dns import address_refusal
from domains.errors import DomainError
from domains.models import WebhookDelivery
from domains.origins.address import OriginAddress, check_resolution
from domains.webhooks import delivery
from domains.webhooks.services import webhook_endpoint_create, webhook_endpoint_send_test
from sandbox.dns import DnsSandbox
from sandbox.inbox import WebhookInbox

# (address, words in the reason), three or more per refused family.
REFUSED = [
    # 6to4 carrying loopback, private and link-local IPv4
    ("2002:7f00:1::1", "6to4 address for 127.0.0.1: a loopback"),
    ("2002:a00:1::1", "6to4 address for 10.0.0.1: a private"),
    ("2002:a9fe:a9fe::1", "6to4 address for 169.254.169.254: a link-local"),
    # the well-known NAT64 prefix carrying the same
    ("64:ff9b::7f00:1", "NAT64 address for 127.0.0.1: a loopback"),
    ("64:ff9b::c0a8:101", "NAT64 address for 192.168.1.1: a private"),
    ("64:ff9b::a9fe:a9fe", "NAT64 address for 169.254.169.254: a link-local"),
    # local-use NAT64 (leads into a private network whatever it carries)
    ("64:ff9b:1::1", "local-use NAT64"),
    ("64:ff9b:1::5db8:d70e", "local-use NAT64"),
    ("64:ff9b:1:ffff::1", "local-use NAT64"),
    # Teredo tunnels
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001::1", "Teredo"),
    ("2001:0:5ef5:79fd::1", "Teredo"),
    # IPv4-compatible (deprecated)
    ("::7f00:1", "IPv4-compatible address for 127.0.0.1: a loopback"),
    ("::a00:1", "IPv4-compatible address for 10.0.0.1: a private"),
    ("::a9fe:a9fe", "IPv4-compatible address for 169.254.169.254: a link-local"),
    # v4-mapped
    ("::ffff:127.0.0.1", "IPv4-mapped address for 127.0.0.1: a loopback"),
    ("::ffff:172.16.0.1", "IPv4-mapped address for 172.16.0.1: a private"),
    ("::ffff:169.254.169.254", "IPv4-mapped address for 169.254.169.254: a link-local"),
    # site-local (deprecated)
    ("fec0::1", "site-local"),
    ("fec0:1::1", "site-local"),
    ("feff::1", "site-local"),
    # IETF protocol assignments
    ("192.0.0.1", "IETF protocol assignment"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.0.170", "IETF protocol assignment"),
    # benchmarking
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("198.18.5.5", "benchmarking"),
]
ALLOWED = [
    "93.184.215.14",
    "1.1.1.1",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001::1",
    # carrying a public IPv4 address
    "2002:5db8:d70e::1",
    "64:ff9b::5db8:d70e",
    "::ffff:93.184.215.14",
]


@pytest.mark.parametrize(("address", "words"), REFUSED)
def test_each_special_purpose_family_is_refused_with_its_reason(address: str, words: str) -> None:
    assert words in address_refusal(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed_also_inside_an_ipv6_form(address: str) -> None:
    assert address_refusal(address) == ""


def test_loopback_allowed_for_the_sandbox_does_not_open_its_6to4_or_nat64_forms() -> None:
    assert address_refusal("127.0.0.1", allow_loopback=True) == ""
    assert address_refusal("::ffff:127.0.0.1", allow_loopback=True) == ""
    assert address_refusal("2002:7f00:1::1", allow_loopback=True) != ""
    assert address_refusal("64:ff9b::7f00:1", allow_loopback=True) != ""


@pytest.fixture
def production_rules(settings: Any) -> None:
    """The guards as in production: no loopback allowed for the sandbox's inbox or app."""
    settings.WEBHOOK_LOOPBACK_PORTS = []
    settings.ORIGIN_ALLOW_LOOPBACK = False


def _post(client: Client, token: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/api/v1{path}",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("acme_on_pro", "cloudflare_sim", "production_rules")
@pytest.mark.parametrize(("address", "words"), REFUSED)
def test_the_api_refuses_each_family_as_a_webhook_url_and_as_an_origin(
    client: Client, acme_token: str, address: str, words: str
) -> None:
    host = f"[{address}]" if ":" in address else address
    hook = _post(client, acme_token, "/webhook-endpoints", {"url": f"https://{host}/in"})
    origin = _post(client, acme_token, "/origins", {"name": "App", "address": address})

    assert (hook.status_code, hook.json()["code"]) == (400, "refused_address")
    assert words in hook.json()["detail"]
    assert (origin.status_code, origin.json()["code"]) == (400, "refused_address")
    assert words in origin.json()["detail"]


@pytest.mark.django_db
@pytest.mark.usefixtures("production_rules")
@pytest.mark.parametrize(("address", "words"), [REFUSED[0], REFUSED[3], REFUSED[9], REFUSED[18]])
def test_a_name_resolving_to_a_special_address_is_refused_at_delivery_and_as_an_origin(
    acme: Organization, dns_sandbox: DnsSandbox, inbox: WebhookInbox, address: str, words: str
) -> None:
    name = "hooks.tenant-app.dev"
    dns_sandbox.set_record(name, "A", "93.184.215.14")
    saved = webhook_endpoint_create(organization=acme, url=f"https://{name}/in")
    dns_sandbox.delete_record(name)
    dns_sandbox.set_record(name, "AAAA", address)
    webhook_endpoint_send_test(endpoint=saved.endpoint)

    delivery.deliver_endpoint(str(saved.endpoint.pk))
    with pytest.raises(DomainError) as refused:
        check_resolution(OriginAddress(name, "CNAME"))

    stored = WebhookDelivery.objects.get()
    assert stored.last_error.startswith("not sent: ")
    assert words in stored.last_error
    assert inbox.received() == []
    assert refused.value.code == "refused_address"
    assert words in refused.value.message
