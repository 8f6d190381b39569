"""The webhook endpoints API: the same services as the page, another organization's a 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook

from accounts.models import Organization
from domains.models import WebhookDelivery, WebhookEndpoint
from domains.webhooks import delivery
from domains.webhooks.services import webhook_endpoint_create, webhook_endpoint_send_test
from sandbox.inbox import WebhookInbox

pytestmark = pytest.mark.django_db

API = "/api/v1/webhook-endpoints"


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_an_endpoint_is_added_with_its_secret_shown_once(
    client: Client, acme_token: str, inbox_url: str
) -> None:
    created = client.post(
        API,
        {"url": inbox_url, "description": "staging", "event_types": ["domain.active"]},
        content_type="application/json",
        **auth(acme_token),
    )
    listed = client.get(API, **auth(acme_token))

    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["domain.active"]
    assert listed.json()["results"][0]["id"] == body["id"]
    assert "secret" not in listed.json()["results"][0]
    assert "secret" not in client.get(f"{API}/{body['id']}", **auth(acme_token)).json()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "https://10.0.0.1/hooks"}, 400, "refused_address"),
        ({"url": "ftp://hooks.acme.dev/"}, 400, "invalid_url"),
        (
            {"url": "https://hooks.acme.dev/", "event_types": ["domain.exploded"]},
            400,
            "unknown_event_type",
        ),
        ({}, 400, "required"),
    ],
)
def test_a_refused_endpoint_gets_a_400_with_a_stable_code(
    client: Client, acme_token: str, body: dict[str, Any], status: int, code: str, settings: Any
) -> None:
    settings.WEBHOOK_LOOPBACK_PORTS = []
    response = client.post(API, body, content_type="application/json", **auth(acme_token))

    assert response.status_code == status
    assert response.json()["code"] == code
    assert not WebhookEndpoint.objects.exists()


def test_over_the_plans_endpoint_limit_is_a_402(
    client: Client, acme_token: str, inbox_url: str
) -> None:
    client.post(API, {"url": inbox_url}, content_type="application/json", **auth(acme_token))

    second = client.post(
        API, {"url": inbox_url}, content_type="application/json", **auth(acme_token)
    )

    assert second.status_code == 402
    assert second.json()["code"] == "plan_limit"


def test_rotate_test_deliveries_and_resend_through_the_api(
    client: Client, acme: Organization, acme_token: str, inbox_url: str, inbox: WebhookInbox
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    rotated = client.post(f"{API}/{endpoint.pk}/rotate-secret", **auth(acme_token)).json()
    inbox.mode = "500"
    tested = client.post(f"{API}/{endpoint.pk}/test", **auth(acme_token))
    delivery.deliver_endpoint(str(endpoint.pk))
    failed = client.get(
        f"{API}/{endpoint.pk}/deliveries?status=pending&event_type=webhook.test",
        **auth(acme_token),
    ).json()
    inbox.mode = "ok"
    resent = client.post(
        f"{API}/{endpoint.pk}/deliveries/{tested.json()['id']}/resend", **auth(acme_token)
    )
    delivery.deliver_endpoint(str(endpoint.pk))

    assert tested.status_code == 202
    assert failed["count"] == 1
    assert failed["results"][0]["last_status_code"] == 500
    assert resent.status_code == 202
    assert WebhookDelivery.objects.get().status == "succeeded"
    last = inbox.received()[-1]
    assert Webhook(rotated["secret"]).verify(last.body, last.headers)["type"] == "webhook.test"


def test_another_organizations_endpoints_and_deliveries_are_404_everywhere(
    client: Client, acme: Organization, umbrella_token: str, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    sent = webhook_endpoint_send_test(endpoint=endpoint)
    base = f"{API}/{endpoint.pk}"
    as_charlie = auth(umbrella_token)

    answers = [
        client.get(base, **as_charlie),
        client.patch(base, {"enabled": False}, content_type="application/json", **as_charlie),
        client.delete(base, **as_charlie),
        client.post(f"{base}/rotate-secret", **as_charlie),
        client.post(f"{base}/test", **as_charlie),
        client.get(f"{base}/deliveries", **as_charlie),
        client.post(f"{base}/deliveries/{sent.pk}/resend", **as_charlie),
    ]

    assert [a.status_code for a in answers] == [404] * 7
    assert client.get(API, **as_charlie).json()["results"] == []
    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert WebhookDelivery.objects.count() == 1


def test_an_endpoint_is_disabled_updated_and_removed(
    client: Client, acme: Organization, acme_token: str, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint

    patched = client.patch(
        f"{API}/{endpoint.pk}",
        {"enabled": False, "description": "paused"},
        content_type="application/json",
        **auth(acme_token),
    )
    removed = client.delete(f"{API}/{endpoint.pk}", **auth(acme_token))

    assert patched.json()["enabled"] is False
    assert patched.json()["description"] == "paused"
    assert removed.status_code == 204
    assert not WebhookEndpoint.objects.exists()
