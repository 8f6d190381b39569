"""`make run`'s sandbox (`manage.py sandbox`, started here the way the command starts it) keeps
Cloudflare's own clock: a hostname validates, is issued and deployed at the simulator's delays,
and each step's notification is sent then, with nobody reading the simulator in between."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from sandbox.inbox import WebhookInbox
from sandbox.run import Ports, RunningSandbox, start_sandbox
from sandbox.server import SandboxServer

HOSTNAME = "shop.customer-of-acme.dev"
STEPS = ["validation.succeeded", "issuance.succeeded", "deployment.succeeded"]


@pytest.fixture
def inbox() -> Iterator[tuple[WebhookInbox, SandboxServer]]:
    receiver = WebhookInbox()
    server = SandboxServer(receiver, "127.0.0.1", 0).start()
    try:
        yield receiver, server
    finally:
        server.stop()


@pytest.fixture
def running(tmp_path: Path, inbox: tuple[WebhookInbox, SandboxServer]) -> Iterator[RunningSandbox]:
    sandbox = start_sandbox(
        state_dir=tmp_path,
        host="127.0.0.1",
        ports=Ports(github=0, cloudflare=0, stripe=0, inbox=0, dns=0, app_tls=0, app=0),
        site_url=inbox[1].url,
        webhook_secret="sandbox-secret",  # noqa: S106 - the simulator's own
        stripe_controls_url="/",
    )
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _events(receiver: WebhookInbox) -> list[tuple[str, datetime]]:
    found = []
    for message in receiver.received():
        metadata = json.loads(message.body)["metadata"]["event"]
        found.append(
            (
                metadata["type"].removeprefix("ssl.custom_hostname_certificate."),
                datetime.fromisoformat(metadata["created_at"]),
            )
        )
    return found


def _wait_for_steps(receiver: WebhookInbox) -> list[tuple[str, datetime]]:
    """Until the deployment's notification arrives: each arrival is the signal to look again
    (the timeout only ends a run that would otherwise hang)."""
    count = 1
    while STEPS[-1] not in [name for name, _ in _events(receiver)]:
        arrived = receiver.wait_for(count, timeout=60)
        assert len(arrived) >= count, f"no notification after {[n for n, _ in _events(receiver)]}"
        count = len(arrived) + 1
    return _events(receiver)


def test_cloudflare_steps_happen_at_their_delays_and_are_notified_without_any_read(
    running: RunningSandbox, inbox: tuple[WebhookInbox, SandboxServer]
) -> None:
    sim = running.cloudflare
    created = requests.post(
        f"{sim.base_url}/zones/{sim.zone_id}/custom_hostnames",
        json={"hostname": HOSTNAME, "ssl": {"method": "http", "type": "dv"}},
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    page = sim.base_url.removesuffix(sim.prefix)
    # "The customer added the CNAME", as the sandbox page's button does; its redirect (a read
    # of the page) is not followed.
    pressed = requests.post(
        f"{page}/sandbox/action",
        data={"hostname": HOSTNAME, "action": "cname"},
        allow_redirects=False,
        timeout=10,
    )
    assert pressed.status_code == 302
    requests_before = len(sim.requests)

    events = _wait_for_steps(inbox[0])

    assert [name for name, _ in events] == STEPS
    assert len(sim.requests) == requests_before  # nothing asked the simulator meanwhile
    (_, validated), (_, issued), (_, deployed) = events
    # Each step at its delay after the one before (to the simulator's tick).
    assert (issued - validated).total_seconds() >= sim.delays.issuance - 0.1
    assert (deployed - issued).total_seconds() >= sim.delays.deployment - 0.1


@pytest.mark.parametrize(
    ("zone", "host"),
    [("namecheap-customer.dev", "namecheap"), ("cloudflare-customer.dev", "cloudflare")],
)
def test_the_sandboxs_sample_zones_are_told_to_be_at_their_dns_hosts(
    running: RunningSandbox, settings: object, zone: str, host: str
) -> None:
    from domains.dns import detect_host

    settings.DNS_RESOLVER = running.dns.address  # type: ignore[attr-defined]

    found = detect_host(f"app.{zone}")

    assert found.zone == zone
    assert found.host is not None
    assert found.host.key == host


MISTAKE_HOSTNAME = "app.namecheap-customer.dev"


@pytest.mark.parametrize(
    "mistake",
    [
        "zone_appended_to_name",
        "zone_appended_to_value",
        "conflicting_records",
        "proxied_at_cloudflare",
        "wildcard_shadow",
        "stale_txt",
        "caa_blocks",
        "caa_lookup_failed",
        "dnssec_broken",
        "unknown",
    ],
)
def test_the_sandbox_page_puts_each_dns_mistake_in_place_and_the_app_tells_it_by_its_code(
    running: RunningSandbox, settings: object, mistake: str
) -> None:
    from domains.dns import Wanted, check_records

    settings.DNS_RESOLVER = running.dns.address  # type: ignore[attr-defined]
    settings.DNS_AUTHORITATIVE_PORT = running.dns.port  # type: ignore[attr-defined]
    settings.DNS_TIMEOUT = 0.5  # type: ignore[attr-defined]
    sim = running.cloudflare
    requests.post(
        f"{sim.base_url}/zones/{sim.zone_id}/custom_hostnames",
        json={"hostname": MISTAKE_HOSTNAME, "ssl": {"method": "http", "type": "dv"}},
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=10,
    ).raise_for_status()
    page = sim.base_url.removesuffix(sim.prefix)
    wanted = [
        Wanted(MISTAKE_HOSTNAME, "CNAME", sim.cname_target),
        Wanted(f"_cf-custom-hostname.{MISTAKE_HOSTNAME}", "TXT", "the-current-value"),
    ]

    def press(choice: str) -> list[str]:
        pressed = requests.post(
            f"{page}/sandbox/action",
            data={"hostname": MISTAKE_HOSTNAME, "action": "mistake", "mistake": choice},
            allow_redirects=False,
            timeout=10,
        )
        assert pressed.status_code == 302
        return [row.code for row in check_records(MISTAKE_HOSTNAME, wanted)]

    broken = press(mistake)
    fixed = press("fixed")

    assert mistake in broken
    assert fixed[0] == "ok"  # the CNAME; "undone" leaves no trace of the mistake
    assert set(fixed[1:]) == {"missing", "ok"}  # the TXT was never made; CAA allows


def test_the_sandbox_page_shows_what_the_app_emailed_with_its_links_clickable(
    running: RunningSandbox, settings: object
) -> None:
    from django.core.mail import EmailMultiAlternatives

    assert running.cloudflare.mail_dir is not None
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"  # type: ignore[attr-defined]
    settings.EMAIL_FILE_PATH = str(running.cloudflare.mail_dir)  # type: ignore[attr-defined]
    for n in (1, 2):
        message = EmailMultiAlternatives(
            f"Acme asks you to add a DNS record ({n})",
            f"Open https://dcvaas.localhost/dns/dnsm_{n}/ to see it.",
            "Acme via DCVaaS <noreply@dcvaas.localhost>",
            [f"it{n}@customer.example"],
        )
        message.attach_alternative("<p>html</p>", "text/html")
        message.send()
    sim = running.cloudflare

    page = requests.get(f"{sim.base_url.removesuffix(sim.prefix)}/sandbox/", timeout=10).text

    assert page.index("record (2)") < page.index("record (1)")  # newest first
    assert "to it1@customer.example" in page
    assert '<a href="https://dcvaas.localhost/dns/dnsm_1/">' in page
