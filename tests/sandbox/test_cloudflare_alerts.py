"""The Cloudflare simulator's Notifications (domains/cloudflare/CONTRACT.md §11): the account API,
through Cloudflare's own SDK, and the notifications it sends on certificate transitions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cloudflare import Cloudflare

from sandbox.cloudflare import CloudflareSandbox
from sandbox.cloudflare.alerts import SAAS_ALERT_NAME, PushFaults
from sandbox.inbox import WebhookInbox
from tests.fixtures.cloudflare import CloudflareHttp


@pytest.fixture
def sdk(cloudflare_sim: CloudflareSandbox) -> Iterator[Cloudflare]:
    with Cloudflare(
        api_token=cloudflare_sim.token, base_url=cloudflare_sim.base_url, max_retries=0
    ) as client:
        yield client


def subscribe(sim: CloudflareSandbox, sdk: Cloudflare, url: str) -> str:
    """What `cloudflare_notifications setup` does: find the SaaS alert type, add a
    destination with a secret, and a policy sending the alert there."""
    account = sim.account_id
    alerts = sdk.alerting.available_alerts.list(account_id=account)
    assert alerts is not None
    alert_type = next(
        a.type for group in alerts.values() for a in group if a.display_name == SAAS_ALERT_NAME
    )
    destination = sdk.alerting.destinations.webhooks.create(
        account_id=account, name="DCVaaS", url=url, secret="s3cret"
    )
    assert destination is not None
    assert destination.id
    sdk.alerting.policies.create(
        account_id=account,
        name="DCVaaS custom hostnames",
        alert_type=alert_type,  # type: ignore[arg-type]
        enabled=True,
        mechanisms={"webhooks": [{"id": destination.id}]},
    )
    return destination.id


def test_the_sdk_sets_up_a_destination_and_a_policy_and_lists_them(
    cloudflare_sim: CloudflareSandbox, sdk: Cloudflare, inbox_url: str
) -> None:
    destination_id = subscribe(cloudflare_sim, sdk, inbox_url)
    account = cloudflare_sim.account_id

    destinations = list(sdk.alerting.destinations.webhooks.list(account_id=account))
    policies = list(sdk.alerting.policies.list(account_id=account))
    sdk.alerting.destinations.webhooks.update(
        destination_id, account_id=account, name="DCVaaS", url=inbox_url + "?v=2"
    )

    assert [d.url for d in destinations] == [inbox_url]
    assert [p.name for p in policies] == ["DCVaaS custom hostnames"]
    assert cloudflare_sim.alerts.subscribed


def test_each_certificate_step_is_notified_with_the_secret(
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    sdk: Cloudflare,
    inbox: WebhookInbox,
    inbox_url: str,
) -> None:
    subscribe(cloudflare_sim, sdk, inbox_url)
    created = cloudflare_http.create("shop.test-customer.dev")
    cloudflare_sim.set_cname("shop.test-customer.dev", True)

    cloudflare_http.get(created["id"])  # Cloudflare notices (the ticker would, too)
    assert cloudflare_sim.alerts.wait_idle()
    received = inbox.wait_for(3)

    bodies = [json.loads(r.body) for r in received]
    assert [b["metadata"]["event"]["type"].rsplit(".", 2)[-2] for b in bodies] == [
        "validation",
        "issuance",
        "deployment",
    ]
    assert {r.headers["cf-webhook-auth"] for r in received} == {"s3cret"}
    assert bodies[-1]["data"]["id"] == created["id"]
    assert bodies[-1]["data"]["ssl"]["status"] == "active"
    assert bodies[-1]["metadata"]["zone"]["id"] == cloudflare_sim.zone_id


def test_transitions_are_noticed_without_anyone_asking(
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    sdk: Cloudflare,
    inbox: WebhookInbox,
    inbox_url: str,
) -> None:
    subscribe(cloudflare_sim, sdk, inbox_url)
    cloudflare_http.create("quiet.test-customer.dev")

    cloudflare_sim.set_cname("quiet.test-customer.dev", True)  # nobody reads it afterwards

    received = inbox.wait_for(3)
    assert len(received) == 3


def test_delivery_faults_drop_duplicate_and_change_the_envelope(
    cloudflare_sim: CloudflareSandbox,
    cloudflare_http: CloudflareHttp,
    sdk: Cloudflare,
    inbox: WebhookInbox,
    inbox_url: str,
) -> None:
    subscribe(cloudflare_sim, sdk, inbox_url)
    cloudflare_sim.push_faults(PushFaults(duplicate=1.0, shape="generic"))
    created = cloudflare_http.create("twice.test-customer.dev")
    cloudflare_sim.set_cname("twice.test-customer.dev", True)
    cloudflare_http.get(created["id"])
    assert cloudflare_sim.alerts.wait_idle()
    doubled = inbox.wait_for(6)

    cloudflare_sim.push_faults(PushFaults(drop=1.0))
    cloudflare_http.request("DELETE", f"/{created['id']}")
    assert cloudflare_sim.alerts.wait_idle()

    ids = [json.loads(r.body)["data"]["metadata"]["event"]["id"] for r in doubled]
    assert len(ids) == 6
    assert len(set(ids)) == 3
    assert json.loads(doubled[0].body)["alert_type"] == "custom_ssl_certificate_event_type"
    assert len(inbox.received()) == 6  # the deletion's notification was dropped
