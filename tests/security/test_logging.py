"""One log line per request and per Celery task, with ids; never a token, secret or cookie."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from django.test import Client

from accounts.models import Organization, User
from accounts.services import api_token_create, api_token_revoke
from dcvaas.celery import app
from dcvaas.logging import RedactSecretsFilter, describe_ids, redact
from domains.models import Domain
from sandbox.cloudflare import CloudflareSandbox

pytestmark = pytest.mark.django_db


@app.task(name="tests.security.touch_domains")
def touch_domains(domain_ids: list[str], organization_id: int, note: str = "") -> int:
    return len(domain_ids)


@app.task(name="tests.security.fail")
def fail(domain_id: str) -> None:
    raise ValueError("Cloudflare said no")


def request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dcvaas.requests"]


def fields_of(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[1:])


@pytest.fixture
def domain(acme: Organization) -> Domain:
    return Domain.objects.create(
        organization=acme, hostname="shop.test-customer.dev", status="pending"
    )


def test_a_page_request_logs_one_line_with_user_organization_and_domain_ids(
    client: Client, alice: User, acme: Organization, domain: Domain, caplog: Any
) -> None:
    client.force_login(alice)
    caplog.set_level(logging.INFO, logger="dcvaas.requests")

    response = client.get(f"/domains/{domain.pk}/")

    [line] = request_lines(caplog)
    fields = fields_of(line)
    assert fields["method"] == "GET"
    assert fields["path"] == f"/domains/{domain.pk}/"
    assert fields["status"] == str(response.status_code) == "200"
    assert float(fields["duration_ms"]) >= 0
    assert fields["user_id"] == str(alice.pk)
    assert fields["organization_id"] == str(acme.pk)
    assert fields["domain_id"] == str(domain.pk)
    assert fields["request_id"] == response["X-Request-ID"]


def test_an_api_request_logs_the_tokens_organization_and_the_token_id_not_the_token(
    client: Client, alice: User, acme: Organization, domain: Domain, caplog: Any
) -> None:
    token, raw = api_token_create(organization=acme, created_by=alice, name="ci")
    caplog.set_level(logging.INFO, logger="dcvaas.requests")

    client.get(f"/api/v1/domains/{domain.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")

    [line] = request_lines(caplog)
    fields = fields_of(line)
    assert fields["organization_id"] == str(acme.pk)
    assert fields["token_id"] == str(token.pk)
    assert fields["domain_id"] == str(domain.pk)
    assert fields["user_id"] == "-"


def test_the_query_string_is_never_logged(client: Client, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="dcvaas.requests")

    client.get("/accounts/github/login/callback/?code=oauth-code-123&state=state-456")

    [line] = request_lines(caplog)
    assert fields_of(line)["path"] == "/accounts/github/login/callback/"
    assert "oauth-code-123" not in line
    assert "state-456" not in line


def test_a_path_cannot_forge_a_log_line_or_a_field(client: Client, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="dcvaas.requests")

    client.get("/api/v1/x%0Arequest%20status=200%20user_id=1")

    [line] = request_lines(caplog)
    assert "\n" not in line
    assert fields_of(line)["path"] == "/api/v1/x%0Arequest%20status=200%20user_id=1"
    assert fields_of(line)["user_id"] == "-"


def test_a_proxys_request_id_is_kept_and_a_strange_one_replaced(
    client: Client, caplog: Any
) -> None:
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="edge-4f1c2a9b")
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="x y\nforged=1")

    assert kept["X-Request-ID"] == "edge-4f1c2a9b"
    assert replaced["X-Request-ID"] != "x y\nforged=1"
    assert len(replaced["X-Request-ID"]) == 32


def test_a_task_logs_its_name_id_id_arguments_outcome_and_duration(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="dcvaas.tasks")
    ids = [str(uuid.uuid4()) for _ in range(12)]

    result = touch_domains.apply(args=[ids, 7], kwargs={"note": "secret-ish text"})

    [line] = [r.getMessage() for r in caplog.records if r.name == "dcvaas.tasks"]
    assert "name=tests.security.touch_domains" in line
    assert f"id={result.id}" in line
    assert ids[0] in line
    assert ",+2]" in line  # long id lists are shortened
    assert ",7]" in line
    assert "note=<str>" in line  # anything that is not an id is not printed
    assert "secret-ish" not in line
    assert "outcome=SUCCESS" in line
    assert float(line.split("duration_ms=")[1].split()[0]) >= 0


def test_a_failing_task_logs_its_outcome_and_error_type(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="dcvaas.tasks")
    domain_id = str(uuid.uuid4())

    fail.apply(args=[domain_id])

    [line] = [r.getMessage() for r in caplog.records if r.name == "dcvaas.tasks"]
    assert "outcome=FAILURE" in line
    assert "error=ValueError" in line
    assert domain_id in line
    assert "Cloudflare said no" not in line


def test_argument_descriptions_show_ids_and_hide_everything_else() -> None:
    cloudflare_id = "0d89c70d-ad9f-4843-b99f-6cc0252067e9"

    assert describe_ids([5, cloudflare_id, "023e105f4ecef8ad9ca31a8372d0c353"]) == (
        f"[5,{cloudflare_id},023e105f4ecef8ad9ca31a8372d0c353]"
    )
    assert describe_ids({"payload": {"secret": "x"}, "flag": True}) == (
        "{payload={secret=<str>},flag=<bool>}"
    )


def test_a_raw_api_token_never_appears_in_any_log_output(
    client: Client,
    alice: User,
    acme: Organization,
    charlie: User,
    domain: Domain,
    cloudflare_sim: CloudflareSandbox,
    settings: Any,
    caplog: Any,
    capfd: Any,
) -> None:
    settings.API_THROTTLE_RATE = "5/min"
    token, raw = api_token_create(organization=acme, created_by=alice, name="ci")
    _, revoked = api_token_create(organization=acme, created_by=alice, name="old")
    api_token_revoke(token=_)
    umbrella_domain = Domain.objects.create(
        organization=charlie.memberships.get().organization,
        hostname="other.test-customer.dev",
        status="pending",
    )
    caplog.set_level(logging.DEBUG)  # everything, from every logger
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    statuses = [
        client.get("/api/v1/domains", **auth).status_code,
        client.post(
            "/api/v1/domains",
            {"hostname": "api.test-customer.dev"},
            content_type="application/json",
            **auth,
        ).status_code,
        client.post(
            "/api/v1/domains", "{not json " + raw, content_type="application/json", **auth
        ).status_code,
        client.get(f"/api/v1/domains/{umbrella_domain.pk}", **auth).status_code,
        client.get(f"/api/v1/domains/{domain.pk}?token={raw}", **auth).status_code,
        client.get("/api/v1/nothing-here", **auth).status_code,
        client.get("/api/v1/domains", **auth).status_code,  # over the token's limit
        client.get("/api/v1/domains", HTTP_AUTHORIZATION=f"Bearer {revoked}").status_code,
        client.get("/api/v1/domains", HTTP_AUTHORIZATION=f"Token {raw}").status_code,
        client.get("/api/v1/domains", HTTP_AUTHORIZATION=f"Bearer {raw} extra").status_code,
        client.get("/api/v1/domains", HTTP_AUTHORIZATION=f"Bearer {raw[:-1]}").status_code,
    ]

    assert statuses == [200, 201, 400, 404, 400, 404, 429, 401, 401, 401, 401]
    records = caplog.records
    assert len([r for r in records if r.name == "dcvaas.requests"]) == len(statuses)
    out, err = capfd.readouterr()
    logged = "\n".join(
        [r.getMessage() for r in records]
        + [r.exc_text or "" for r in records]
        + [repr(r.__dict__) for r in records]
        + [caplog.text, out, err]
    )
    for secret in (raw, raw.removeprefix("dcv_"), revoked, revoked.removeprefix("dcv_")):
        assert secret not in logged


def test_the_log_handlers_scrub_credentials_from_lines_written_by_anyone() -> None:
    handlers = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactSecretsFilter) for f in h.filters)
    ]
    record = logging.LogRecord(
        "somelib",
        logging.WARNING,
        __file__,
        1,
        "sent %s",
        ("Authorization: Bearer dcv_x1y2z3w4v5u6",),
        None,
    )

    assert handlers, "the console handler of LOGGING carries the filter"
    assert handlers[0].filter(record)
    assert record.getMessage() == "sent Authorization: [redacted]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token dcv_abcdefghijklmnopqrstuvwxyz", "token [redacted]"),
        ("key=sk_live_51Habc whsec_abc123", "key=[redacted] [redacted]"),
        ("{'Cookie': 'sessionid=abc; csrftoken=def'}", "{'Cookie': '[redacted]'}"),
        ("csrftoken=def123 next=/x", "csrftoken=[redacted] next=/x"),
        ("domain_id=5 status=200", "domain_id=5 status=200"),
    ],
)
def test_redaction_covers_tokens_keys_headers_and_cookies(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_celery_workers_handlers_get_the_secret_scrubbing_filter() -> None:
    from celery import signals

    logger = logging.getLogger("tests.security.worker")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        signals.after_setup_logger.send(
            sender=None,
            logger=logger,
            loglevel=logging.INFO,
            logfile=None,
            format="",
            colorize=False,
        )
        signals.after_setup_logger.send(
            sender=None,
            logger=logger,
            loglevel=logging.INFO,
            logfile=None,
            format="",
            colorize=False,
        )
    finally:
        logger.removeHandler(handler)

    assert [type(f) for f in handler.filters] == [RedactSecretsFilter]
