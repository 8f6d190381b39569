"""Outgoing webhooks: recorded with the change, signed as Standard Webhooks, retried on
Svix's schedule, never sent where our servers must not connect."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import Organization, User
from domains.cloudflare import parse_hostname
from domains.errors import DomainError
from domains.events import record_events, status_change_event
from domains.models import (
    Domain,
    DomainStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
    WebhookMessage,
)
from domains.services import domain_register
from domains.webhooks import delivery
from domains.webhooks.guard import WebhookUrlError, refusal, resolve_target
from domains.webhooks.services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_send_test,
)
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.inbox import WebhookInbox
from sandbox.server import SandboxServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(acme: Organization, inbox_url: str) -> WebhookEndpoint:
    return webhook_endpoint_create(organization=acme, url=inbox_url).endpoint


def _activate(domain: Domain) -> None:
    """What the sync loop does when Cloudflare says the domain is active."""
    remote = parse_hostname(
        {
            "id": domain.cloudflare_id or "x",
            "hostname": domain.hostname,
            "status": "active",
            "ssl": {"status": "active", "method": "http"},
        }
    )
    before = (domain.status, domain.cloudflare_status, domain.ssl_status)
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).update(status=DomainStatus.ACTIVE)
        domain.status = DomainStatus.ACTIVE
        record_events(
            [
                status_change_event(
                    domain, before=before, to_status=DomainStatus.ACTIVE, remote=remote
                )
            ]
        )


def test_a_change_records_its_message_in_the_same_transaction_and_a_rollback_records_none(
    acme: Organization, endpoint: WebhookEndpoint, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="hook.test-customer.dev").domain
    created = WebhookMessage.objects.get()

    def change_that_fails() -> None:
        with transaction.atomic():
            _activate(domain)
            raise RuntimeError("the change fails after its event was written")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert created.type == WebhookEventType.DOMAIN_CREATED
    assert created.payload["data"]["domain"]["hostname"] == "hook.test-customer.dev"
    assert list(WebhookMessage.objects.values_list("type", flat=True)) == ["domain.created"]
    domain.refresh_from_db()
    assert domain.status == DomainStatus.PENDING  # rolled back with its message
    _activate(domain)
    assert WebhookMessage.objects.filter(type="domain.active").count() == 1
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_an_organization_without_endpoints_records_no_message(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain_register(organization=acme, hostname="quiet.test-customer.dev")

    assert not WebhookMessage.objects.exists()


def test_a_delivery_is_signed_so_a_standard_webhooks_library_verifies_it(
    acme: Organization, endpoint: WebhookEndpoint, inbox: WebhookInbox, cloudflare_sim: Any
) -> None:
    domain_register(organization=acme, hostname="signed.test-customer.dev")

    assert delivery.deliver_endpoint(str(endpoint.pk)) == 1

    received = inbox.received()[0]
    verified = Webhook(endpoint.secret).verify(received.body, received.headers)
    assert verified["type"] == "domain.created"
    assert verified["data"]["domain"]["hostname"] == "signed.test-customer.dev"
    assert received.headers["webhook-id"] == WebhookMessage.objects.get().id
    stored = WebhookDelivery.objects.get()
    assert (stored.status, stored.attempts, stored.last_status_code) == ("succeeded", 1, 204)
    # Tampered, signed with another secret, or too old: the library refuses each.
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(
            received.body.replace(b"signed", b"forged"), received.headers
        )
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.headers)
    old = {**received.headers, "webhook-timestamp": str(int(timezone.now().timestamp()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(received.body, old)


def test_during_a_rotation_both_secrets_verify(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    old_secret = endpoint.secret
    new_secret = webhook_endpoint_rotate_secret(endpoint=endpoint).secret
    webhook_endpoint_send_test(endpoint=endpoint)

    delivery.deliver_endpoint(str(endpoint.pk))

    received = inbox.received()[0]
    assert new_secret != old_secret
    assert Webhook(old_secret).verify(received.body, received.headers)["type"] == "webhook.test"
    assert Webhook(new_secret).verify(received.body, received.headers)["type"] == "webhook.test"


def test_a_failing_endpoint_is_retried_on_svixs_schedule_then_the_delivery_fails(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    inbox.mode = "500"
    webhook_endpoint_send_test(endpoint=endpoint)
    start = timezone.now()
    waits = []

    with time_machine.travel(start, tick=False) as clock:
        for _ in range(delivery.MAX_ATTEMPTS):
            assert delivery.deliver_endpoint(str(endpoint.pk)) == 1
            stored = WebhookDelivery.objects.get()
            if stored.next_attempt_at is None:
                break
            waits.append(round((stored.next_attempt_at - timezone.now()).total_seconds()))
            # Not due a moment before its time, due at it.
            clock.move_to(stored.next_attempt_at - timedelta(seconds=1))
            assert delivery.deliver_endpoint(str(endpoint.pk)) == 0
            clock.move_to(stored.next_attempt_at)

    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert (stored.status, stored.attempts) == (WebhookDeliveryStatus.FAILED, 8)
    assert stored.last_status_code == 500
    assert len(inbox.received()) == 8


def test_a_delivery_that_succeeded_is_never_sent_again(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    webhook_endpoint_send_test(endpoint=endpoint)

    delivery.deliver_endpoint(str(endpoint.pk))
    delivery.deliver_endpoint(str(endpoint.pk))

    assert len(inbox.received()) == 1


def test_an_attempt_to_a_healthy_endpoint_writes_its_delivery_and_no_transaction(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    webhook_endpoint_send_test(endpoint=endpoint)
    claimed = WebhookDelivery.objects.select_related("message").get()

    with CaptureQueriesContext(db_connection) as queries:
        outcome = delivery.attempt(claimed, endpoint=endpoint)

    assert outcome.succeeded
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    # The delivery's record alone: no savepoint or transaction around it, and the endpoint's
    # row untouched (it was not failing).
    assert statements == ["UPDATE"]
    assert "webhookendpoint" not in queries.captured_queries[0]["sql"]


def test_a_batchs_delivered_attempts_are_recorded_together_each_with_its_own_answer(
    endpoint: WebhookEndpoint, inbox: WebhookInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RECORD_EVERY", 10)
    for _ in range(25):
        webhook_endpoint_send_test(endpoint=endpoint)

    began = timezone.now().replace(microsecond=0)
    with CaptureQueriesContext(db_connection) as queries:
        attempted = delivery.deliver_endpoint(str(endpoint.pk))

    assert attempted == 25
    records = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "domains_webhookdelivery"') and "succeeded" in q["sql"]
    ]
    assert len(records) == 3  # 10, 10 and the last 5
    rows = WebhookDelivery.objects.all()
    assert {(d.status, d.attempts, d.last_status_code, d.lease_token) for d in rows} == {
        (WebhookDeliveryStatus.SUCCEEDED, 1, 204, "")
    }
    assert all(d.last_duration_ms is not None for d in rows)
    # Each attempt's own moment, to the second (as the delivery log shows it).
    assert all(
        d.last_attempt_at is not None
        and d.last_attempt_at.microsecond == 0
        and began <= d.last_attempt_at <= timezone.now()
        for d in rows
    )


def test_a_delivered_attempt_waits_no_longer_than_the_time_bound_to_be_recorded(
    endpoint: WebhookEndpoint, inbox: WebhookInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RECORD_WITHIN_SECONDS", 0.0)
    for _ in range(3):
        webhook_endpoint_send_test(endpoint=endpoint)

    with CaptureQueriesContext(db_connection) as queries:
        delivery.deliver_endpoint(str(endpoint.pk))

    records = [q for q in queries.captured_queries if "succeeded" in q["sql"]]
    assert len(records) == 3


def test_a_batch_sends_on_one_kept_alive_connection_and_closes_it_when_done(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    for _ in range(5):
        webhook_endpoint_send_test(endpoint=endpoint)
    delivery.deliver_endpoint(str(endpoint.pk))
    webhook_endpoint_send_test(endpoint=endpoint)

    delivery.deliver_endpoint(str(endpoint.pk))

    ports = [r.client_port for r in inbox.received()]
    assert len(ports) == 6
    assert len(set(ports[:5])) == 1  # one TCP connection for the batch of five
    assert ports[5] != ports[0]  # the next batch opened its own


def test_a_success_after_failures_clears_the_endpoints_failing_state_in_its_own_statement(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    webhook_endpoint_send_test(endpoint=endpoint)
    claimed = WebhookDelivery.objects.select_related("message").get()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now())
    endpoint.refresh_from_db()

    with CaptureQueriesContext(db_connection) as queries:
        outcome = delivery.attempt(claimed, endpoint=endpoint)

    assert outcome.succeeded
    assert [query["sql"].split()[0].upper() for query in queries.captured_queries] == [
        "UPDATE",
        "UPDATE",
    ]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_worker_killed_mid_delivery_leaves_it_to_be_sent_after_its_lease(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    webhook_endpoint_send_test(endpoint=endpoint)
    now = timezone.now()
    # A worker claimed it (moved it to its lease) and died before recording anything.
    lease = now + timedelta(seconds=delivery.lease_seconds())
    WebhookDelivery.objects.update(next_attempt_at=lease)

    before = delivery.deliver_endpoint(str(endpoint.pk), now=now)
    after = delivery.deliver_endpoint(str(endpoint.pk), now=lease)

    assert (before, after) == (0, 1)
    assert WebhookDelivery.objects.get().status == WebhookDeliveryStatus.SUCCEEDED


def test_an_endpoint_failing_every_delivery_for_five_days_is_disabled_with_one_email(
    alice: User, endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    inbox.mode = "500"
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        webhook_endpoint_send_test(endpoint=endpoint)
        delivery.deliver_endpoint(str(endpoint.pk))
        clock.move_to(start + timedelta(days=5, minutes=1))
        webhook_endpoint_send_test(endpoint=endpoint)
        delivery.deliver_endpoint(str(endpoint.pk))
        webhook_endpoint_send_test(endpoint=endpoint)
        delivery.deliver_endpoint(str(endpoint.pk))

    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "every delivery failed for 5 days" in endpoint.disabled_reason
    assert [m.subject for m in mail.outbox] == [f"Webhook endpoint disabled: {endpoint.url}"]
    assert mail.outbox[0].to == ["alice@acme.test-customer.dev"]


def test_resend_sends_a_failed_delivery_again(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    inbox.mode = "500"
    sent = webhook_endpoint_send_test(endpoint=endpoint)
    WebhookDelivery.objects.update(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None)
    inbox.mode = "ok"

    webhook_delivery_resend(delivery=sent)
    delivery.deliver_endpoint(str(endpoint.pk))

    assert WebhookDelivery.objects.get().status == WebhookDeliveryStatus.SUCCEEDED
    assert len(inbox.received()) == 1


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("192.0.2.10", "documentation"),
        ("2001:db8::1", "documentation"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "reserved"),  # noqa: S104 - an address refused, not bound
        ("fd00:ec2::254", "private"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
    ],
)
def test_each_refused_address_family_is_refused(address: str, words: str) -> None:
    assert words in refusal(address)


def test_loopback_is_refused_unless_the_sandbox_allows_it(settings: Any) -> None:
    settings.WEBHOOK_LOOPBACK_PORTS = []

    assert "loopback" in refusal("127.0.0.1")
    assert "loopback" in refusal("::1")
    with pytest.raises(WebhookUrlError, match="https only"):
        resolve_target("http://127.0.0.1:8703/hooks")


def test_with_the_sandbox_on_loopback_is_allowed_only_to_its_inbox_not_to_any_port(
    settings: Any,
) -> None:
    settings.WEBHOOK_LOOPBACK_PORTS = [8703]

    allowed = resolve_target("http://127.0.0.1:8703/hooks")

    assert (allowed.address, allowed.port) == ("127.0.0.1", 8703)
    for url in ("http://127.0.0.1:6379/", "http://localhost:5432/", "http://[::1]:8000/"):
        with pytest.raises(WebhookUrlError, match="https only"):
            resolve_target(url)
    for url in ("https://127.0.0.1:6379/", "https://localhost:5432/", "https://[::1]:8787/"):
        with pytest.raises(WebhookUrlError, match="loopback"):
            resolve_target(url)


def test_a_public_address_is_allowed() -> None:
    assert refusal("93.184.215.14") == ""
    assert refusal("2606:4700::1111") == ""


@pytest.mark.parametrize(
    ("rtype", "address", "words"),
    [
        ("A", "169.254.169.254", "link-local"),
        ("A", "10.0.0.1", "private"),
        ("A", "100.64.0.1", "carrier-grade NAT"),
        ("A", "224.0.0.1", "multicast"),
        ("A", "192.0.2.1", "documentation"),
        ("A", "240.0.0.1", "reserved"),
        ("AAAA", "fd00:ec2::254", "private"),
        ("AAAA", "fe80::1", "link-local"),
        ("AAAA", "::ffff:10.0.0.1", "private"),
        ("AAAA", "2001:db8::1", "documentation"),
    ],
)
def test_a_name_that_resolves_to_a_refused_address_after_saving_is_refused_at_delivery(
    acme: Organization,
    dns_sandbox: DnsSandbox,
    inbox: WebhookInbox,
    rtype: str,
    address: str,
    words: str,
) -> None:
    dns_sandbox.set_record("hooks.tenant-app.dev", "A", "93.184.215.14")
    saved = webhook_endpoint_create(organization=acme, url="https://hooks.tenant-app.dev/in")
    dns_sandbox.delete_record("hooks.tenant-app.dev")
    dns_sandbox.set_record("hooks.tenant-app.dev", rtype, address)
    webhook_endpoint_send_test(endpoint=saved.endpoint)

    delivery.deliver_endpoint(str(saved.endpoint.pk))

    stored = WebhookDelivery.objects.get()
    assert stored.last_status_code is None
    assert stored.last_error.startswith("not sent: ")
    assert words in stored.last_error
    assert inbox.received() == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.tenant-app.dev/in", "https_required"),
        ("https://user:pw@hooks.tenant-app.dev/in", "userinfo"),
        ("ftp://hooks.tenant-app.dev/in", "invalid_url"),
        ("https://dcv.pcnaid.com/in", "own_host"),
        ("https://10.0.0.1/in", "refused_address"),
        ("https://[::ffff:127.0.0.1]/in", "refused_address"),
    ],
)
def test_an_endpoint_is_refused_with_a_reason_when_saved(
    acme: Organization, url: str, code: str, settings: Any
) -> None:
    settings.WEBHOOK_LOOPBACK_PORTS = []
    with pytest.raises(DomainError) as refused:
        webhook_endpoint_create(organization=acme, url=url)

    assert refused.value.code == code
    assert not WebhookEndpoint.objects.exists()


def test_the_free_plan_allows_one_endpoint(acme: Organization, inbox_url: str) -> None:
    webhook_endpoint_create(organization=acme, url=inbox_url)

    with pytest.raises(DomainError) as refused:
        webhook_endpoint_create(organization=acme, url=inbox_url)

    assert refused.value.code == "plan_limit"


def test_an_endpoint_gets_only_the_event_types_it_chose(
    acme: Organization, inbox_url: str, cloudflare_sim: CloudflareSandbox
) -> None:
    chosen = webhook_endpoint_create(
        organization=acme, url=inbox_url, event_types=["domain.active"]
    ).endpoint
    domain = domain_register(organization=acme, hostname="picky.test-customer.dev").domain

    _activate(domain)

    assert list(WebhookDelivery.objects.values_list("message__type", flat=True)) == [
        "domain.active"
    ]
    assert chosen.wants("domain.active")
    payload = WebhookMessage.objects.get().payload
    assert json.dumps(payload)  # plain JSON, as sent
    assert payload["data"]["domain"]["status"] == "active"


def test_an_endpoint_that_does_not_answer_in_time_is_a_failed_attempt(
    endpoint: WebhookEndpoint, inbox: WebhookInbox, settings: Any
) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    inbox.mode, inbox.delay = "slow", 1.0
    webhook_endpoint_send_test(endpoint=endpoint)

    delivery.deliver_endpoint(str(endpoint.pk))

    stored = WebhookDelivery.objects.get()
    assert stored.last_status_code is None
    assert "time limit" in stored.last_error
    assert stored.last_duration_ms < 1000  # cut at the limit, not when the inbox answered
    assert stored.next_attempt_at is not None
    inbox.wait_for(1)  # the inbox finishes its slow answer before the next test resets it


def test_a_refused_connection_and_a_dropped_one_are_failed_attempts(
    acme: Organization, inbox: WebhookInbox, inbox_url: str, settings: Any
) -> None:
    with socket.socket() as not_listening:  # bound, so no one else takes the port; refuses
        not_listening.bind(("127.0.0.1", 0))
        port = not_listening.getsockname()[1]
        settings.WEBHOOK_LOOPBACK_PORTS = [*settings.WEBHOOK_LOOPBACK_PORTS, port]
        refused = webhook_endpoint_create(
            organization=acme, url=f"http://127.0.0.1:{port}/hooks"
        ).endpoint
        webhook_endpoint_send_test(endpoint=refused)
        delivery.deliver_endpoint(str(refused.pk))
    refused_error = WebhookDelivery.objects.get().last_error
    WebhookEndpoint.objects.filter(pk=refused.pk).delete()  # the Free plan's one endpoint
    dropping = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    inbox.mode = "drop"
    webhook_endpoint_send_test(endpoint=dropping)
    delivery.deliver_endpoint(str(dropping.pk))

    assert refused_error == "the connection was refused"
    dropped = WebhookDelivery.objects.get()
    assert dropped.last_error == "the connection was closed before an answer"
    assert dropped.status == WebhookDeliveryStatus.PENDING  # retried on its schedule


def test_one_endpoints_task_attempts_only_its_own_deliveries(
    acme: Organization, inbox_url: str, inbox: WebhookInbox, settings: Any
) -> None:
    settings.PLAN_LIMIT_FREE = 3
    first = webhook_endpoint_create(organization=acme, url=inbox_url).endpoint
    WebhookEndpoint.objects.create(organization=acme, url="https://dead.tenant-app.dev/hooks")
    for endpoint in WebhookEndpoint.objects.all():
        webhook_endpoint_send_test(endpoint=endpoint)

    attempted = delivery.deliver_endpoint(str(first.pk))

    assert attempted == 1
    assert sorted(delivery.due_endpoints()) == [
        str(e.pk) for e in WebhookEndpoint.objects.exclude(pk=first.pk)
    ]


def test_an_endpoint_that_does_not_answer_holds_a_worker_for_one_attempt_not_a_batch(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    inbox.mode = "drop"
    for _ in range(delivery.BATCH + 5):  # more than one batch
        webhook_endpoint_send_test(endpoint=endpoint)

    attempted = delivery.deliver_endpoint(str(endpoint.pk))
    again = delivery.deliver_endpoint(str(endpoint.pk))

    assert (attempted, again) == (1, 0)
    stored = list(WebhookDelivery.objects.order_by("created_at", "id"))
    assert [d.attempts for d in stored] == [1] + [0] * (delivery.BATCH + 4)
    # All wait with the one that failed: the next try is one attempt, 5 s later.
    assert {d.next_attempt_at for d in stored} == {stored[0].next_attempt_at}
    assert delivery.due_endpoints() == []


def test_an_answer_dribbled_out_slowly_is_cut_at_the_time_limit(
    endpoint: WebhookEndpoint, inbox: WebhookInbox, settings: Any
) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    inbox.mode, inbox.delay = "dribble", 1.0  # a byte every 0.1 s: 20 s for the whole body
    webhook_endpoint_send_test(endpoint=endpoint)

    delivery.deliver_endpoint(str(endpoint.pk))

    stored = WebhookDelivery.objects.get()
    assert stored.status == WebhookDeliveryStatus.PENDING
    assert stored.last_error == "no complete answer within the time limit"
    assert stored.last_duration_ms < 5000


def test_deliveries_recorded_while_an_endpoint_is_failing_wait_for_its_retry(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    inbox.mode = "drop"
    webhook_endpoint_send_test(endpoint=endpoint)
    delivery.deliver_endpoint(str(endpoint.pk))  # fails: retried in 5 s
    webhook_endpoint_send_test(endpoint=endpoint)  # recorded meanwhile, due now

    attempted = delivery.deliver_endpoint(str(endpoint.pk))

    first, second = WebhookDelivery.objects.order_by("created_at", "id")
    assert attempted == 0  # no second attempt at an endpoint that did not answer
    assert second.attempts == 0
    assert second.next_attempt_at == first.next_attempt_at
    assert len(inbox.received()) == 1


def test_a_failing_endpoints_retry_follows_each_deliverys_own_schedule_not_another_tasks_claim(
    endpoint: WebhookEndpoint, inbox: WebhookInbox
) -> None:
    now = timezone.now()
    for _ in range(3):
        webhook_endpoint_send_test(endpoint=endpoint)
    claimed, retried, fresh = WebhookDelivery.objects.order_by("created_at", "id")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=now)
    # Another task holds the oldest (its lease is a minute ahead); the next one failed its
    # first attempt and is due again in 5 s; the newest was just recorded.
    lease = now + timedelta(seconds=delivery.lease_seconds())
    WebhookDelivery.objects.filter(pk=claimed.pk).update(next_attempt_at=lease, lease_token="a")
    WebhookDelivery.objects.filter(pk=retried.pk).update(
        next_attempt_at=now + timedelta(seconds=5), attempts=1
    )
    WebhookDelivery.objects.filter(pk=fresh.pk).update(next_attempt_at=now)

    attempted = delivery.deliver_endpoint(str(endpoint.pk), now=now)

    assert attempted == 0  # the endpoint is failing: its probe's retry is 5 s away
    schedule = dict(WebhookDelivery.objects.values_list("pk", "next_attempt_at"))
    assert schedule[claimed.pk] == lease  # left to the task holding it
    assert schedule[retried.pk] == now + timedelta(seconds=5)
    assert schedule[fresh.pk] == now + timedelta(seconds=5)  # waits with the probe, no longer
    assert inbox.received() == []


class SlowReceiver(WebhookInbox):
    """A receiver whose every answer takes 40 s of the test's clock; while it answers, it asks
    what another delivery task would find due."""

    def __init__(self, clock: Any) -> None:
        super().__init__()
        self.clock = clock
        self.due_meanwhile: list[list[str]] = []

    def handle(self, request: Any) -> Any:
        self.clock.shift(timedelta(seconds=40))
        self.due_meanwhile.append(delivery.due_endpoints())
        db_connection.close()  # this server thread's own connection
        return super().handle(request)


@pytest.mark.django_db(transaction=True)
def test_a_long_batch_renews_its_claims_so_no_other_task_takes_them_meanwhile(
    acme: Organization, settings: Any
) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        receiver = SlowReceiver(clock)
        server = SandboxServer(receiver).start()
        settings.WEBHOOK_LOOPBACK_PORTS = [server.port]
        try:
            slow = webhook_endpoint_create(organization=acme, url=f"{server.url}/hooks").endpoint
            for _ in range(3):
                webhook_endpoint_send_test(endpoint=slow)

            attempted = delivery.deliver_endpoint(str(slow.pk))
        finally:
            server.stop()

    assert attempted == 3
    assert len(receiver.received()) == 3
    # 120 s for a batch whose claims last 60 s: each was renewed before it ran out.
    assert receiver.due_meanwhile == [[], [], []]
