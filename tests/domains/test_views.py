"""The dashboard and domain pages, with htmx and without, and their tenant walls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Organization, User
from domains.models import Domain, DomainEvent, DomainEventKind, DomainStatus
from domains.services import domain_register
from domains.views import shown_state
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def acme_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname="app.acme.test-customer.dev").domain


def test_the_empty_dashboard_explains_the_product(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    content = client.get("/dashboard/").content.decode()

    assert "No domains yet" in content
    assert "0 of 3 domains" in content


def test_the_dashboard_lists_the_organizations_domains_with_usage(
    client: Client, alice: User, acme_domain: Domain, umbrella: Organization
) -> None:
    domain_register(organization=umbrella, hostname="other.umbrella.test-customer.dev")
    client.force_login(alice)

    content = client.get("/dashboard/").content.decode()

    assert "app.acme.test-customer.dev" in content
    assert "other.umbrella" not in content
    assert "1 of 3 domains" in content


def test_adding_with_htmx_answers_errors_inline(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    response = client.post("/domains/add/", {"hostname": "192.0.2.7"}, **HTMX)

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<form id="add-form"')
    assert "That is an IP address" in content
    assert 'aria-invalid="true"' in content


def test_adding_with_htmx_redirects_to_the_domain_page(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    client.force_login(alice)

    response = client.post("/domains/add/", {"hostname": "new.acme.test-customer.dev"}, **HTMX)

    domain = Domain.objects.get()
    assert response["HX-Redirect"] == f"/domains/{domain.pk}/"


def test_adding_without_javascript_works_and_errors_keep_the_input(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    client.force_login(alice)

    bad = client.post("/domains/add/", {"hostname": "app_x.acme.test-customer.dev"})
    good = client.post("/domains/add/", {"hostname": "test-customer.dev"})

    assert bad.status_code == 400
    assert b"app_x.acme.test-customer.dev" in bad.content
    assert good.status_code == 302
    page = client.get(good["Location"]).content.decode()
    assert "apex domain" in page
    assert "Check now" in page


def test_over_the_plan_limit_the_form_offers_an_upgrade(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    for n in range(3):
        domain_register(organization=acme, hostname=f"d{n}.acme.test-customer.dev")
    client.force_login(alice)

    response = client.post("/domains/add/", {"hostname": "d4.acme.test-customer.dev"}, **HTMX)

    content = response.content.decode()
    assert "Free plan allows 3 domains" in content
    assert "/billing/" in content
    assert 'data-testid="upgrade-link"' in client.get("/dashboard/").content.decode()


def test_a_wildcard_is_refused_without_offering_an_upgrade_no_plan_gives(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    client.force_login(alice)

    content = client.post("/domains/add/", {"hostname": "*.acme.test-customer.dev"}, **HTMX)

    text = content.content.decode()
    assert "does not take wildcard hostnames" in text
    assert "plan" not in text.split('id="hostname-error"')[1].split("</small>")[0]
    assert "Upgrade your plan" not in text


def test_the_domain_page_shows_the_records_to_create(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)

    content = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert '<code data-testid="record-host">app.acme</code>' in content
    assert 'data-copy="dcv.pcnaid.com"' in content
    assert "not <code>app.acme.test-customer.dev</code>" in content
    assert "<code>app.acme.test-customer.dev.test-customer.dev</code>" in content
    assert 'hx-trigger="every 3s"' in content
    assert 'http-equiv="refresh"' in content


def test_the_status_fragment_stops_polling_once_settled(
    client: Client, alice: User, acme_domain: Domain, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(alice)
    url = f"/domains/{acme_domain.pk}/status/"

    assert client.get(url, **HTMX).status_code == 200
    Domain.objects.filter(pk=acme_domain.pk).update(status=DomainStatus.ACTIVE)
    settled = client.get(url, **HTMX)
    assert settled.status_code == 286
    assert b"hx-trigger" not in settled.content


def test_the_status_poll_brings_the_history_along_out_of_band(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    DomainEvent.objects.create(
        domain=acme_domain,
        organization_id=acme_domain.organization_id,
        hostname=acme_domain.hostname,
        kind=DomainEventKind.STATUS_CHANGED,
        from_status="pending",
        to_status="pending",
        message="hostname active, certificate pending_issuance",
    )

    content = client.get(f"/domains/{acme_domain.pk}/status/", **HTMX).content.decode()

    assert '<section id="history" hx-swap-oob="true">' in content
    assert (
        "Progress at Cloudflare</strong>: hostname active, certificate pending_issuance" in content
    )
    assert "pending → pending" not in content


def _event(domain: Domain, message: str) -> DomainEvent:
    return DomainEvent.objects.create(
        domain=domain,
        organization_id=domain.organization_id,
        hostname=domain.hostname,
        kind=DomainEventKind.STATUS_CHANGED,
        from_status="pending",
        to_status="pending",
        message=message,
    )


def _history_mark(content: str) -> str:
    return content.split('"history": "', 1)[1].split('"', 1)[0]


def test_a_poll_sends_the_history_only_when_it_has_an_event_the_page_has_not(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    _event(acme_domain, "first")
    page = client.get(f"/domains/{acme_domain.pk}/").content.decode()
    shown = shown_state(acme_domain, None)
    url = f"/domains/{acme_domain.pk}/status/"

    statements: list[str] = []
    with connection.execute_wrapper(
        lambda execute, sql, *rest: statements.append(sql) or execute(sql, *rest)
    ):
        quiet = client.get(url, {"shown": shown, "history": _history_mark(page)}, **HTMX)
    _event(acme_domain, "second")
    news = client.get(url, {"shown": shown, "history": _history_mark(page)}, **HTMX)

    assert _history_mark(page)  # the page knows its newest event
    assert 'id="history"' not in quiet.content.decode()
    assert _history_mark(quiet.content.decode()) == _history_mark(page)
    # The memberships and the domain, nothing more (the session is read from the cache where
    # Redis runs, from its table where it does not).
    own = [s for s in statements if "django_session" not in s]
    assert len(own) == 2, own
    assert '<section id="history" hx-swap-oob="true">' in news.content.decode()
    assert "second" in news.content.decode()
    assert _history_mark(news.content.decode()) != _history_mark(page)


def _records(domain: Domain, *, ownership: bool) -> list[dict[str, Any]]:
    cname = {
        "type": "CNAME",
        "name": domain.hostname,
        "host": "app.acme",
        "value": "dcv.pcnaid.com",
        "required": True,
        "purpose": "Sends your customer's traffic to us.",
    }
    txt = {
        "type": "TXT",
        "name": f"_cf-custom-hostname.{domain.hostname}",
        "host": "_cf-custom-hostname.app.acme",
        "value": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "required": False,
        "purpose": "Optional: proves ownership before the CNAME is switched.",
    }
    return [cname, txt] if ownership else [cname]


def test_a_poll_that_sees_nothing_new_swaps_only_the_status_block_and_the_history(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    shown = shown_state(acme_domain, None)

    content = client.get(
        f"/domains/{acme_domain.pk}/status/", {"shown": shown}, **HTMX
    ).content.decode()

    assert content.lstrip().startswith('<div id="status-poll"')
    assert f'"shown": "{shown}"' in content  # the next poll sends it again
    assert '<section id="history" hx-swap-oob="true">' in content
    assert "dns-records-section" not in content
    assert "status-announcement" not in content
    assert "check-now" not in content  # the button is outside what polls replace


def test_a_poll_after_cloudflare_asks_for_a_record_swaps_the_records_in(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    Domain.objects.filter(pk=acme_domain.pk).update(
        dns_records=_records(acme_domain, ownership=False)
    )
    acme_domain.refresh_from_db()
    shown = shown_state(acme_domain, None)
    Domain.objects.filter(pk=acme_domain.pk).update(
        dns_records=_records(acme_domain, ownership=True)
    )

    content = client.get(
        f"/domains/{acme_domain.pk}/status/", {"shown": shown}, **HTMX
    ).content.decode()

    assert '<section id="dns-records-section" data-testid="dns-records-section" hx-swap-oob' in (
        content
    )
    assert "_cf-custom-hostname.app.acme" in content
    assert "status-announcement" not in content  # the status itself did not change


def test_a_poll_that_sees_the_domain_turn_active_announces_it_and_the_records_follow(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    shown = shown_state(acme_domain, None)
    Domain.objects.filter(pk=acme_domain.pk).update(status=DomainStatus.ACTIVE)

    response = client.get(f"/domains/{acme_domain.pk}/status/", {"shown": shown}, **HTMX)

    content = response.content.decode()
    assert response.status_code == 286
    assert '<p id="status-announcement" hx-swap-oob="innerHTML">Status: Active.' in content
    assert "These records are in place" in content
    assert "DNS records to create" not in content


def test_an_active_domain_claims_in_place_only_the_records_cloudflare_validated(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    Domain.objects.filter(pk=acme_domain.pk).update(
        status=DomainStatus.ACTIVE, dns_records=_records(acme_domain, ownership=True)
    )

    content = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    in_place = content[content.index("These records are in place") :]
    table = in_place[: in_place.index("</table>")]
    assert "app.acme" in table
    assert "_cf-custom-hostname" not in table
    assert "Not needed any more, now that the domain is active: <code>TXT " in content
    assert "If someone created it, it may be deleted." in content


def test_a_pending_domain_lists_the_optional_pre_validation_record_to_create(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)
    Domain.objects.filter(pk=acme_domain.pk).update(
        dns_records=_records(acme_domain, ownership=True)
    )

    content = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    to_create = content[content.index("DNS records to create") :]
    assert "_cf-custom-hostname.app.acme" in to_create[: to_create.index("</table>")]
    assert "retired-records" not in content


def test_check_now_with_htmx_answers_the_verdict_with_the_status_block_out_of_band(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    dns_sandbox.cname("app.acme.test-customer.dev", "dcv.pcnaid.com")
    client.force_login(alice)

    content = client.post(f"/domains/{acme_domain.pk}/check/", **HTMX).content.decode()

    assert content.startswith('<p class="check-result check-')  # into #check-verdict
    assert '<div id="status-poll" hx-swap-oob="true"' in content
    assert '<p id="status-announcement" hx-swap-oob="innerHTML">Status: Active.' in content


def test_an_active_domains_records_are_to_keep_not_to_create(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    checked = timezone.now()
    Domain.objects.filter(pk=acme_domain.pk).update(
        status=DomainStatus.ACTIVE, last_synced_at=checked
    )
    client.force_login(alice)

    with time_machine.travel(checked + timedelta(seconds=20), tick=False):
        content = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert "DNS records to create" not in content
    assert "keep them, or HTTPS stops" in content
    assert "checked 20\xa0seconds ago" in content or "checked 20 seconds ago" in content
    assert "0 minutes" not in content


def test_an_internationalised_name_is_shown_as_people_read_it_with_its_dns_form(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = domain_register(organization=acme, hostname="bücher-shop.test-customer.dev").domain
    client.force_login(alice)

    page = client.get(f"/domains/{domain.pk}/").content.decode()
    listing = client.get("/dashboard/").content.decode()

    assert domain.hostname == "xn--bcher-shop-9db.test-customer.dev"
    assert '<h1 data-testid="domain-hostname">bücher-shop.test-customer.dev</h1>' in page
    assert '<code data-testid="ascii-hostname">xn--bcher-shop-9db.test-customer.dev</code>' in page
    assert "bücher-shop.test-customer.dev</a><br><small>xn--bcher-shop-9db" in listing


def test_the_dashboard_shows_each_certificates_end_and_when_each_domain_was_added_in_local_time(
    client: Client, alice: User, acme: Organization, acme_domain: Domain
) -> None:
    late_evening = datetime(2027, 3, 1, 23, 30, tzinfo=UTC)
    active = Domain.objects.create(
        organization=acme,
        hostname="www.acme-customer.dev",
        status=DomainStatus.ACTIVE,
        certificate_expires_at=late_evening,
    )
    Domain.objects.filter(pk=active.pk).update(created_at=late_evening)
    client.force_login(alice)

    with timezone.override("Europe/Berlin"):  # an hour ahead of UTC in March
        listing = client.get("/dashboard/").content.decode()

    row = listing.split('data-testid="status-www.acme-customer.dev"')[1].split("</tr>")[0]
    pending = listing.split(f'data-testid="status-{acme_domain.hostname}"')[1].split("</tr>")[0]
    assert '<td data-label="Certificate">until 2027-03-02</td>' in row
    assert '<td data-label="Added">2027-03-02</td>' in row
    assert '<td data-label="Certificate">—</td>' in pending


def test_an_internationalised_name_reads_as_people_write_it_when_added_and_removed(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    client.force_login(alice)

    added = client.post(
        "/domains/add/", {"hostname": "bücher-shop.test-customer.dev"}, follow=True
    ).content.decode()
    domain = Domain.objects.get(hostname="xn--bcher-shop-9db.test-customer.dev")
    remove_page = client.get(f"/domains/{domain.pk}/remove/").content.decode()
    removed = client.post(f"/domains/{domain.pk}/remove/", follow=True).content.decode()

    assert "Added bücher-shop.test-customer.dev." in added
    assert "Remove bücher-shop.test-customer.dev?" in remove_page
    assert "In DNS: xn--bcher-shop-9db.test-customer.dev" in remove_page
    assert "Removed bücher-shop.test-customer.dev." in removed


def test_check_now_with_htmx_shows_the_dns_verdict(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    dns_sandbox.cname("app.acme.test-customer.dev", "dcv.pcnaid.com")
    client.force_login(alice)

    response = client.post(f"/domains/{acme_domain.pk}/check/", **HTMX)

    content = response.content.decode()
    assert 'data-testid="check-result"' in content
    assert "Active" in content
    again = client.post(f"/domains/{acme_domain.pk}/check/", **HTMX).content.decode()
    assert "checked moments ago" in again


def test_removing_asks_for_confirmation_then_removes(
    client: Client, alice: User, acme_domain: Domain, cloudflare_sim: CloudflareSandbox
) -> None:
    client.force_login(alice)

    confirm = client.get(f"/domains/{acme_domain.pk}/remove/")
    removed = client.post(f"/domains/{acme_domain.pk}/remove/")

    assert b"Remove app.acme.test-customer.dev?" in confirm.content
    assert removed.status_code == 302
    assert not Domain.objects.exists()
    assert cloudflare_sim.hostnames() == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "status/"), ("post", "check/"), ("get", "remove/"), ("post", "remove/")],
)
def test_another_organizations_domain_is_a_404_everywhere(
    client: Client, charlie: User, acme_domain: Domain, method: str, suffix: str
) -> None:
    client.force_login(charlie)

    response = getattr(client, method)(f"/domains/{acme_domain.pk}/{suffix}")

    assert response.status_code == 404
    assert Domain.objects.filter(pk=acme_domain.pk).exists()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "status/"), ("post", "check/"), ("get", "remove/"), ("post", "remove/")],
)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: Client, acme_domain: Domain, method: str, suffix: str
) -> None:
    response = getattr(client, method)(f"/domains/{acme_domain.pk}/{suffix}")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_member_can_see_and_manage_the_organizations_domains(
    client: Client, bob: User, acme_domain: Domain
) -> None:
    client.force_login(bob)

    assert client.get(f"/domains/{acme_domain.pk}/").status_code == 200


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostname=st.text(max_size=300))
def test_no_input_to_the_add_form_ever_causes_a_server_error(
    client: Client,
    alice: User,
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    hostname: str,
) -> None:
    client.force_login(alice)

    plain = client.post("/domains/add/", {"hostname": hostname})
    inline = client.post("/domains/add/", {"hostname": hostname}, **HTMX)

    assert plain.status_code in (302, 400)
    assert inline.status_code == 200


def test_every_dashboard_row_links_to_its_own_domains_page(
    client: Client, alice: User, acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domains = [
        domain_register(organization=acme, hostname=f"r{n}.acme.test-customer.dev").domain
        for n in range(3)
    ]
    client.force_login(alice)

    content = client.get("/dashboard/").content.decode()

    for domain in domains:
        assert f'<a href="/domains/{domain.pk}/">{domain.hostname}</a>' in content
