"""`manage.py cloudflare_notifications` and the push line of `cloudflare_check`, against the
Cloudflare simulator's Notifications API."""

from __future__ import annotations

import contextlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sandbox.cloudflare import CloudflareSandbox

pytestmark = pytest.mark.django_db

URL = "https://dcvaas.example-saas.dev/webhooks/cloudflare"


@pytest.fixture
def push_settings(cloudflare_sim: CloudflareSandbox, settings: Any) -> CloudflareSandbox:
    settings.CLOUDFLARE_ACCOUNT_ID = cloudflare_sim.account_id
    settings.CLOUDFLARE_WEBHOOK_SECRET = "s3cret-for-push"
    return cloudflare_sim


def run(*args: str) -> str:
    out = StringIO()
    call_command("cloudflare_notifications", *args, stdout=out)
    return out.getvalue()


def test_setup_discovers_the_alert_type_and_creates_one_destination_and_one_policy(
    push_settings: CloudflareSandbox,
) -> None:
    first = run("setup", "--url", URL)
    again = run("setup", "--url", URL + "/")
    status = run("status")

    alerts = push_settings.alerts
    assert "custom_ssl_certificate_event_type (discovered" in first
    assert "Destination “DCVaaS”: created" in first
    assert "Destination “DCVaaS”: updated" in again
    assert "Policy “DCVaaS custom hostnames”: updated" in again
    assert len(alerts.handle("GET", "destinations/webhooks", None)[1]) == 1
    assert len(alerts.handle("GET", "policies", None)[1]) == 1
    assert alerts.subscribed
    assert f"→ {URL}/" in status
    assert "enabled" in status
    assert "Last notification received: none yet" in status


def test_setup_without_a_secret_or_with_another_url_is_refused(
    push_settings: CloudflareSandbox, settings: Any
) -> None:
    with pytest.raises(CommandError, match="/webhooks/cloudflare"):
        run("setup", "--url", "https://dcvaas.example-saas.dev/elsewhere")
    settings.CLOUDFLARE_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="CLOUDFLARE_WEBHOOK_SECRET"):
        run("setup", "--url", URL)

    assert not push_settings.alerts.subscribed


def test_cloudflare_check_says_whether_push_is_on(push_settings: CloudflareSandbox) -> None:
    def push_line() -> str:
        out = StringIO()
        with contextlib.suppress(CommandError):
            call_command("cloudflare_check", stdout=out)
        return next(line for line in out.getvalue().splitlines() if " push:" in line)

    before = push_line()
    run("setup", "--url", URL)
    after = push_line()

    assert before.startswith("WARN     push: Push is not set up")
    assert after.startswith("OK       push: Destination “DCVaaS”")
