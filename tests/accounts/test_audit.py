"""The audit log: who did what, when and from where, written in the transaction of the change
(a rolled-back change records nothing), never changed by the app, read on a page with
filters, exported as CSV that no spreadsheet runs as a formula, and through the API."""

from __future__ import annotations

import ast
import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.audit import audit, audit_sweep
from accounts.models import AuditEvent, Organization, User
from accounts.services import api_token_create
from domains.models import WebhookEndpoint
from domains.webhooks.services import webhook_endpoint_delete
from sandbox.cloudflare import CloudflareSandbox
from sandbox.server import SandboxServer
from tests.fixtures.github import github_sign_in

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"


def test_adding_a_domain_on_the_page_records_who_when_and_from_where(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    client.force_login(alice)

    client.post(
        "/domains/add/", {"hostname": "shop.acme.test-customer.dev"}, HTTP_USER_AGENT=BROWSER
    )

    event = AuditEvent.objects.get(action="domain.added")
    assert (event.organization, event.actor_user, event.actor_label) == (acme, alice, "alice")
    assert event.target_label == "shop.acme.test-customer.dev"
    assert (event.ip_address, event.user_agent) == ("127.0.0.1", BROWSER)


def test_a_tokens_change_names_the_token_and_its_first_use_is_recorded_once(
    client: Client, acme: Organization, alice: User, cloudflare_sim: CloudflareSandbox
) -> None:
    _, raw = api_token_create(organization=acme, created_by=alice, name="ci")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    client.post(
        "/api/v1/domains", {"hostname": "api.acme.test-customer.dev"},
        content_type="application/json", **headers,
    )  # fmt: skip
    client.get("/api/v1/domains", **headers)

    added = AuditEvent.objects.get(action="domain.added")
    assert added.actor_label.startswith("token “ci” (dcv_")
    assert added.actor_user is None
    assert AuditEvent.objects.filter(action="token.first_used").count() == 1
    assert AuditEvent.objects.filter(action="token.created").get().actor_user == alice


def test_a_rolled_back_change_records_nothing(acme: Organization) -> None:
    endpoint = WebhookEndpoint.objects.create(organization=acme, url="https://hooks.example/in")
    endpoint_id = endpoint.pk

    def remove_then_fail() -> None:
        with transaction.atomic():
            webhook_endpoint_delete(endpoint=endpoint)
            raise RuntimeError("something after it failed")

    with pytest.raises(RuntimeError):
        remove_then_fail()

    assert not AuditEvent.objects.filter(action="webhook.removed").exists()
    assert WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


def test_signing_in_is_recorded_in_the_persons_organizations(
    client: Client, github_sim: SandboxServer
) -> None:
    github_sign_in(client, "newcomer")

    event = AuditEvent.objects.get(action="user.signed_in")
    assert event.actor_label == "newcomer"


def test_the_app_never_changes_an_event_only_the_retention_sweep_deletes(
    acme: Organization,
) -> None:
    writers = []
    for path in [*ROOT.glob("accounts/**/*.py"), *ROOT.glob("domains/**/*.py"),
                 *ROOT.glob("billing/**/*.py"), *ROOT.glob("dcvaas/**/*.py")]:  # fmt: skip
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("update", "delete"):
                text = ast.unparse(node)
                if "AuditEvent" in text:
                    writers.append(f"{path.relative_to(ROOT)}: {text}")
    with time_machine.travel(timezone.now() - timedelta(days=401)):
        audit(acme.pk, "organization.changed")
    audit(acme.pk, "organization.changed")

    assert writers == ["accounts/audit.py: AuditEvent.objects.filter(created_at__lt=cutoff).delete"]
    assert audit_sweep() == 1
    assert AuditEvent.objects.count() == 1


def test_the_page_filters_and_the_csv_export_neutralises_formulas(
    client: Client, alice: User, acme: Organization
) -> None:
    audit(acme.pk, "handoff.created", target_label='=HYPERLINK("http://evil.example")')
    audit(acme.pk, "origin.created", target_label="@SUM(A1)", actor=alice)
    client.force_login(alice)

    filtered = client.get("/settings/audit/", {"action": "origin.created"}).content.decode()
    bad = client.get("/settings/audit/", {"since": "2026-13-01"})
    exported = client.get("/settings/audit/", {"export": "csv"})

    assert filtered.count('data-testid="audit-event"') == 1
    assert bad.status_code == 400
    assert "Give a date as YYYY-MM-DD." in bad.content.decode()
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:3] == ["time", "actor", "action"]
    targets = {row[2]: row[3] for row in rows[1:]}
    assert targets["handoff.created"] == '\'=HYPERLINK("http://evil.example")'
    assert targets["origin.created"] == "'@SUM(A1)"


def test_a_member_cannot_read_the_log_and_the_api_answers_only_the_tokens_organization(
    client: Client,
    bob: User,
    acme: Organization,
    umbrella: Organization,
    acme_token: str,
) -> None:
    audit(umbrella.pk, "origin.created", target_label="umbrella's origin")
    audit(acme.pk, "origin.created", target_label="acme's origin")
    client.force_login(bob)

    page = client.get("/settings/audit/")
    api = client.get(
        "/api/v1/audit-events", {"action": "origin.created"},
        HTTP_AUTHORIZATION=f"Bearer {acme_token}",
    )  # fmt: skip
    bad = client.get(
        "/api/v1/audit-events", {"action": "nope"}, HTTP_AUTHORIZATION=f"Bearer {acme_token}"
    )

    assert page.status_code == 403
    assert [e["target"] for e in api.json()["results"]] == ["acme's origin"]
    assert bad.status_code == 400
