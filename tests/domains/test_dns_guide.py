"""The DNS owner's instructions: where the domain's DNS is hosted (looked up in the background)
and the record in that host's words, on the domain page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from accounts.models import Organization, User
from domains.models import DnsHostDetection, Domain, DomainStatus
from domains.records import domain_check_records
from domains.services import domain_check_now, domain_detect_dns_host, domain_register
from domains.views import shown_state
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ZONE = "acme.test-customer.dev"


@pytest.fixture
def acme_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname=f"app.{ZONE}").domain


def hosted_at(sandbox: DnsSandbox, *nameservers: str) -> None:
    sandbox.add_zone(ZONE)
    sandbox.set_record(ZONE, "NS", list(nameservers))


@pytest.mark.usefixtures("celery_eager")
def test_adding_a_domain_looks_up_its_dns_host_once_the_addition_commits(
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
    django_capture_on_commit_callbacks: Any,
) -> None:
    hosted_at(dns_sandbox, "ns-0.awsdns-00.com", "ns-512.awsdns-00.net")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        domain = domain_register(organization=acme, hostname=f"app.{ZONE}").domain
    assert not DnsHostDetection.objects.exists()  # nothing before the commit
    for callback in callbacks:
        callback()

    assert DnsHostDetection.objects.get(domain=domain).host == "route53"


def test_the_lookup_keeps_the_host_its_zone_and_nameservers(
    acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "dns1.registrar-servers.com", "dns2.registrar-servers.com")

    detection = domain_detect_dns_host(acme_domain.pk)

    assert detection is not None
    stored = DnsHostDetection.objects.get(domain=acme_domain)
    assert (stored.zone, stored.host, stored.confidence) == (ZONE, "namecheap", "all")
    assert stored.nameservers == ["dns1.registrar-servers.com", "dns2.registrar-servers.com"]
    assert stored.problem == ""
    domain_detect_dns_host(acme_domain.pk)  # idempotent: one row, refreshed
    assert DnsHostDetection.objects.filter(domain=acme_domain).count() == 1


def test_a_removed_domain_is_not_looked_up(acme_domain: Domain) -> None:
    pk = acme_domain.pk
    Domain.objects.filter(pk=pk).delete()

    assert domain_detect_dns_host(pk) is None
    assert not DnsHostDetection.objects.exists()


def test_the_page_gives_namecheaps_steps_in_namecheaps_words(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "dns1.registrar-servers.com", "dns2.registrar-servers.com")
    domain_detect_dns_host(acme_domain.pk)
    client.force_login(alice)

    page = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert f"The DNS of <strong>{ZONE}</strong> is hosted at <strong>Namecheap</strong>." in page
    assert "Host <code>app</code>, Value <code>dcv.pcnaid.com</code>" in page
    assert f"Namecheap adds <code>{ZONE}</code> itself" in page
    assert "Not your DNS host? Choose yours" in page
    assert "namecheap.com/support/knowledgebase" in page


def test_a_host_chosen_by_the_reader_replaces_the_detected_one(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "dns1.registrar-servers.com", "dns2.registrar-servers.com")
    domain_detect_dns_host(acme_domain.pk)
    client.force_login(alice)

    page = client.get(f"/domains/{acme_domain.pk}/", {"dns_host": "cloudflare"}).content.decode()

    assert "Steps for <strong>Cloudflare</strong>." in page
    assert "Name <code>app</code>, Target <code>dcv.pcnaid.com</code>" in page
    assert "“DNS only” is the simplest" in page
    assert '<option value="cloudflare" selected>' in page


def test_a_host_whose_form_labels_are_unconfirmed_gets_generic_words(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "ns07.domaincontrol.com", "ns08.domaincontrol.com")
    domain_detect_dns_host(acme_domain.pk)
    client.force_login(alice)

    page = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert "is hosted at <strong>GoDaddy</strong>" in page
    assert "with the name and value in the table below" in page


def test_an_unknown_host_and_a_failed_lookup_say_so_and_keep_the_generic_steps(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "ns1.acme.test-customer.dev")
    domain_detect_dns_host(acme_domain.pk)
    client.force_login(alice)
    unknown = client.get(f"/domains/{acme_domain.pk}/").content.decode()
    dns_sandbox.fail(ZONE, "servfail", "NS")
    domain_detect_dns_host(acme_domain.pk)
    failed = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert "a host we have no specific steps for" in unknown
    assert "<code>ns1.acme.test-customer.dev</code>" in unknown
    assert "We could not tell where this domain's DNS is hosted" in failed
    assert "SERVFAIL" in failed


def test_a_poll_after_the_lookup_finished_swaps_the_instructions_in(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    client.force_login(alice)
    shown = shown_state(acme_domain, None)  # the page as first shown: still looking
    hosted_at(dns_sandbox, "bob.ns.cloudflare.com", "lola.ns.cloudflare.com")
    domain_detect_dns_host(acme_domain.pk)

    content = client.get(
        f"/domains/{acme_domain.pk}/status/", {"shown": shown}, **HTMX
    ).content.decode()

    assert "dns-records-section" in content
    assert "is hosted at <strong>Cloudflare</strong>" in content


def test_a_pending_domain_says_when_cloudflare_stops_checking_and_a_check_moves_it(
    client: Client,
    alice: User,
    acme: Organization,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
) -> None:
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=False):
        domain = domain_register(organization=acme, hostname=f"app.{ZONE}").domain
    client.force_login(alice)
    with time_machine.travel(datetime(2026, 12, 2, 9, 0, tzinfo=UTC), tick=False):
        added = client.get(f"/domains/{domain.pk}/").content.decode()
    with time_machine.travel(datetime(2026, 12, 8, 10, 0, tzinfo=UTC), tick=False):
        passed = client.get(f"/domains/{domain.pk}/").content.decode()
    with time_machine.travel(datetime(2026, 12, 8, 11, 0, tzinfo=UTC), tick=True):
        domain_check_now(domain=domain, actor=alice)
        checked = client.get(f"/domains/{domain.pk}/").content.decode()
        Domain.objects.filter(pk=domain.pk).update(status=DomainStatus.ACTIVE)
        active = client.get(f"/domains/{domain.pk}/").content.decode()

    assert "Cloudflare keeps checking for the record until about December 8, 2026" in added
    assert 'data-testid="start-again"' not in added
    assert "Cloudflare stopped checking for the record about December 8, 2026" in passed
    assert 'data-testid="start-again"' in passed  # Check now: the documented refresh
    assert "until about December 15, 2026" in checked
    assert 'data-testid="deadline-passed"' not in checked
    assert 'data-testid="deadline"' not in active


def test_a_poll_keeps_the_dns_host_the_reader_chose(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    client.force_login(alice)
    page = client.get(f"/domains/{acme_domain.pk}/", {"dns_host": "route53"}).content.decode()
    assert '"dns_host": "route53"' in page  # the polled block sends the choice back
    hosted_at(dns_sandbox, "bob.ns.cloudflare.com", "lola.ns.cloudflare.com")
    domain_detect_dns_host(acme_domain.pk)  # the records section will be swapped in

    content = client.get(
        f"/domains/{acme_domain.pk}/status/",
        {"shown": shown_state(acme_domain, None), "dns_host": "route53"},
        **HTMX,
    ).content.decode()

    assert "Steps for <strong>Amazon Route 53</strong>." in content


def test_records_placed_at_a_host_the_domain_is_not_delegated_to_are_warned_about(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "dns1.registrar-servers.com", "dns2.registrar-servers.com")
    domain_detect_dns_host(acme_domain.pk)
    client.force_login(alice)

    elsewhere = client.get(f"/domains/{acme_domain.pk}/", {"dns_host": "route53"}).content
    detected = client.get(f"/domains/{acme_domain.pk}/", {"dns_host": "namecheap"}).content

    assert b'data-code="not_delegated"' in elsewhere
    assert b"answered by Namecheap's nameservers" in elsewhere
    assert b"not_delegated" not in detected


def test_check_now_shows_each_record_expected_vs_found_and_a_poll_follows_a_later_check(
    client: Client, alice: User, acme_domain: Domain, dns_sandbox: DnsSandbox
) -> None:
    hosted_at(dns_sandbox, "dns1.registrar-servers.com", "dns2.registrar-servers.com")
    client.force_login(alice)
    before = client.get(f"/domains/{acme_domain.pk}/").content.decode()
    shown = shown_state(Domain.objects.get(pk=acme_domain.pk), None)

    checked = client.post(f"/domains/{acme_domain.pk}/check/", **HTMX).content.decode()
    dns_sandbox.cname(acme_domain.hostname, "dcv.pcnaid.com")
    domain_check_records(Domain.objects.get(pk=acme_domain.pk))
    polled = client.get(
        f"/domains/{acme_domain.pk}/status/", {"shown": shown}, **HTMX
    ).content.decode()

    assert 'data-testid="record-checks-empty"' in before
    assert 'data-testid="record-check" data-code="missing"' in checked
    assert f"Create a CNAME record for {acme_domain.hostname}" in checked
    assert 'data-testid="record-check" data-code="ok"' in polled


APEX = "bare-customer.dev"


@pytest.fixture
def apex_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname=APEX).domain


@pytest.mark.parametrize(
    ("nameservers", "mode", "record_type"),
    [
        (("bob.ns.cloudflare.com", "lola.ns.cloudflare.com"), "flattening", "CNAME"),
        (("dns1.registrar-servers.com", "dns2.registrar-servers.com"), "alias", "ALIAS"),
        (("ns07.domaincontrol.com", "ns08.domaincontrol.com"), "www", "CNAME"),
    ],
)
def test_a_bare_domain_gets_the_record_its_dns_host_offers_or_the_advice_to_use_www(
    client: Client,
    alice: User,
    apex_domain: Domain,
    dns_sandbox: DnsSandbox,
    nameservers: tuple[str, ...],
    mode: str,
    record_type: str,
) -> None:
    dns_sandbox.add_zone(APEX)
    dns_sandbox.set_record(APEX, "NS", list(nameservers))
    domain_detect_dns_host(apex_domain.pk)
    client.force_login(alice)

    page = client.get(f"/domains/{apex_domain.pk}/").content.decode()

    assert f'data-apex="{mode}"' in page
    table = page[page.index('data-testid="dns-records"') :]
    assert f"<code>{record_type}</code>" in table.split("</table>")[0]
    assert ('data-testid="add-www"' in page) == (mode == "www")


def test_with_apex_addresses_a_bare_domain_is_told_to_create_a_and_aaaa_records(
    client: Client, alice: User, apex_domain: Domain, settings: Any
) -> None:
    settings.CLOUDFLARE_APEX_IPV4 = ["192.0.2.10"]
    settings.CLOUDFLARE_APEX_IPV6 = ["2001:db8::10"]
    client.force_login(alice)

    page = client.get(f"/domains/{apex_domain.pk}/").content.decode()

    assert 'data-apex="addresses"' in page
    table = page[page.index('data-testid="dns-records"') :].split("</table>")[0]
    assert "<code>A</code>" in table
    assert "192.0.2.10" in table
    assert "2001:db8::10" in table
    assert "<code>CNAME</code>" not in table


def test_one_click_adds_www_instead_of_a_bare_domain_and_another_org_cannot(
    client: Client, alice: User, charlie: User, umbrella: Organization, apex_domain: Domain
) -> None:
    client.force_login(charlie)
    outsider = client.post(f"/domains/{apex_domain.pk}/www/")
    client.force_login(alice)

    response = client.post(f"/domains/{apex_domain.pk}/www/")

    www = Domain.objects.get(hostname=f"www.{APEX}")
    assert outsider.status_code == 404
    assert not Domain.objects.filter(organization=umbrella).exists()
    assert response["Location"] == f"/domains/{www.pk}/"
    assert www.organization_id == apex_domain.organization_id
    assert Domain.objects.filter(pk=apex_domain.pk).exists()
