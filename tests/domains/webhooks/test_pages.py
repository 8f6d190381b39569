"""The Webhooks pages: owners and admins manage endpoints; members look; others get 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization, User
from dcvaas.once import KEY_FIELD, new_key
from domains.models import WebhookDelivery, WebhookEndpoint
from domains.webhooks import delivery
from domains.webhooks.services import webhook_endpoint_create, webhook_endpoint_send_test
from sandbox.inbox import WebhookInbox

pytestmark = pytest.mark.django_db


def test_an_owner_adds_an_endpoint_and_sees_its_secret_once(
    client: Client, alice: User, acme: Organization, inbox_url: str
) -> None:
    client.force_login(alice)

    added = client.post(
        "/webhooks/",
        {
            "url": inbox_url,
            "description": "staging",
            "event_types": ["domain.active"],
            KEY_FIELD: new_key(),
        },
    )
    again = client.get("/webhooks/")

    endpoint = WebhookEndpoint.objects.get()
    assert added.status_code == 200
    assert "no-store" in added["Cache-Control"]
    assert endpoint.secret in added.content.decode()
    assert endpoint.secret not in again.content.decode()
    assert inbox_url in again.content.decode()
    assert endpoint.event_types == ["domain.active"]


def test_a_refused_url_is_explained_next_to_the_field(
    client: Client, alice: User, acme: Organization, settings: object
) -> None:
    client.force_login(alice)

    response = client.post("/webhooks/", {"url": "https://10.0.0.1/hooks", KEY_FIELD: new_key()})

    assert response.status_code == 400
    assert "a private address: we never send there" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_member_sees_endpoints_but_cannot_change_them(
    client: Client, alice: User, bob: User, acme: Organization, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    client.force_login(bob)

    assert inbox_url in client.get("/webhooks/").content.decode()
    assert client.post("/webhooks/", {"url": inbox_url, KEY_FIELD: new_key()}).status_code == 403
    assert client.post(f"/webhooks/{endpoint.pk}/test/").status_code == 403


def test_the_delivery_log_filters_and_resends(
    client: Client, alice: User, acme: Organization, inbox_url: str, inbox: WebhookInbox
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    inbox.mode = "500"
    sent = webhook_endpoint_send_test(endpoint=endpoint)
    delivery.deliver_endpoint(str(endpoint.pk))
    client.force_login(alice)

    pending = client.get(f"/webhooks/{endpoint.pk}/?status=pending").content.decode()
    succeeded = client.get(f"/webhooks/{endpoint.pk}/?status=succeeded").content.decode()
    inbox.mode = "ok"
    client.post(f"/webhooks/{endpoint.pk}/deliveries/{sent.pk}/resend/")
    delivery.deliver_endpoint(str(endpoint.pk))

    assert "HTTP 500" in pending
    assert sent.message_id in pending
    assert "&#x27;type&#x27;: &#x27;webhook.test&#x27;" in pending  # the request body sent
    assert "No deliveries match these filters" in succeeded
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_rotating_shows_the_new_secret_once(
    client: Client, alice: User, acme: Organization, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    client.force_login(alice)

    response = client.post(f"/webhooks/{endpoint.pk}/rotate/", {KEY_FIELD: new_key()})

    endpoint.refresh_from_db()
    assert endpoint.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert endpoint.previous_secret


def test_a_reloaded_rotation_does_not_rotate_again_behind_the_secret_just_shown(
    client: Client, alice: User, acme: Organization, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    client.force_login(alice)
    key = new_key()

    shown = client.post(f"/webhooks/{endpoint.pk}/rotate/", {KEY_FIELD: key})
    endpoint.refresh_from_db()
    secret = endpoint.secret
    reloaded = client.post(f"/webhooks/{endpoint.pk}/rotate/", {KEY_FIELD: key}, follow=True)

    endpoint.refresh_from_db()
    assert secret in shown.content.decode()
    assert "It is shown only once." in shown.content.decode()
    assert endpoint.secret == secret  # still the one the person saw
    assert "That rotation was already done" in reloaded.content.decode()


def test_another_organizations_endpoint_is_a_404_on_every_page_and_action(
    client: Client, acme: Organization, charlie: User, inbox_url: str
) -> None:
    endpoint = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    sent = webhook_endpoint_send_test(endpoint=endpoint)
    client.force_login(charlie)

    answers = [client.get(f"/webhooks/{endpoint.pk}/")]
    answers += [
        client.post(f"/webhooks/{endpoint.pk}/{action}/")
        for action in ("test", "rotate", "enable", "disable", "delete")
    ]
    answers.append(client.post(f"/webhooks/{endpoint.pk}/deliveries/{sent.pk}/resend/"))

    assert [a.status_code for a in answers] == [404] * 7
    assert inbox_url not in client.get("/webhooks/").content.decode()
    assert WebhookEndpoint.objects.filter(enabled=True).count() == 1


def test_the_docs_show_how_to_verify_in_python_and_node(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    page = client.get("/webhooks/docs/").content.decode()

    assert "from standardwebhooks.webhooks import Webhook" in page
    assert (
        'import { Webhook } from "standardwebhooks";' in page
        or "import { Webhook } from &quot;standardwebhooks&quot;;" in page
    )


def test_the_sandbox_inbox_is_offered_only_where_the_sandbox_runs(
    client: Client, alice: User, acme: Organization, settings: Any
) -> None:
    client.force_login(alice)
    with_sandbox = client.get("/webhooks/").content.decode()
    settings.SANDBOX = False
    without = client.get("/webhooks/").content.decode()

    assert 'data-testid="sandbox-inbox"' in with_sandbox
    assert "8703" not in without
