"""A domain's records checked and kept: at Check now, in the background, and the
`domain.dns_changed` webhook when what DNS answers changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Organization
from domains.models import (
    DnsCheck,
    Domain,
    DomainEvent,
    DomainStatus,
    WebhookEndpoint,
    WebhookMessage,
)
from domains.records import domain_check_records, due_for_recheck, wanted_records
from domains.services import domain_check_now, domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = pytest.mark.django_db

ZONE = "acme.test-customer.dev"
TARGET = "dcv.pcnaid.com"


@pytest.fixture
def acme_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname=f"app.{ZONE}").domain


@pytest.fixture
def zone(dns_sandbox: DnsSandbox) -> DnsSandbox:
    dns_sandbox.add_zone(ZONE)
    dns_sandbox.set_record(f"ns1.{ZONE}", "A", dns_sandbox.host)
    return dns_sandbox


def test_check_now_keeps_every_record_expected_vs_found(
    acme_domain: Domain, zone: DnsSandbox
) -> None:
    zone.cname(acme_domain.hostname, TARGET)

    result = domain_check_now(domain=acme_domain)

    assert result.records is not None
    kept = DnsCheck.objects.get(domain=acme_domain)
    cname = kept.records[0]
    assert (cname["type"], cname["name"], cname["expected"]) == ("CNAME", f"app.{ZONE}", TARGET)
    assert (cname["found"], cname["authoritative_found"]) == ([TARGET], [TARGET])
    assert (cname["match"], cname["code"]) == (True, "ok")
    assert {r["type"] for r in kept.records} >= {"CNAME", "CAA"}
    # Whatever TXT records the domain still needs are checked too.
    assert [r["type"] for r in kept.records].count("TXT") == len(
        [w for w in wanted_records(result.domain) if w.type == "TXT"]
    )


def test_the_txt_records_cloudflare_asks_for_are_checked_while_pending(
    acme_domain: Domain, zone: DnsSandbox
) -> None:
    txt = next(r for r in acme_domain.dns_records if r["type"] == "TXT")
    zone.set_record(txt["name"], "TXT", txt["value"])

    kept = domain_check_records(acme_domain)

    assert kept is not None
    row = next(r for r in kept.records if r["type"] == "TXT")
    assert (row["name"], row["expected"], row["match"]) == (txt["name"], txt["value"], True)


def test_a_change_in_what_dns_answers_is_a_history_event_and_a_webhook_the_same_answer_is_not(
    acme: Organization, acme_domain: Domain, zone: DnsSandbox
) -> None:
    WebhookEndpoint.objects.create(organization=acme, url="https://hooks.tenant-app.dev/in")
    domain_check_records(acme_domain)  # the first check: nothing to differ from
    domain_check_records(acme_domain)  # the same answer
    assert not DomainEvent.objects.filter(kind="dns_changed").exists()

    zone.cname(acme_domain.hostname, TARGET)
    domain_check_records(acme_domain)

    event = DomainEvent.objects.get(kind="dns_changed")
    assert event.message.startswith("1 of 1 required records right")
    message = WebhookMessage.objects.get(type="domain.dns_changed")
    assert message.payload["data"]["domain"]["hostname"] == acme_domain.hostname
    cname = message.payload["data"]["dns"][0]
    assert (cname["type"], cname["match"], cname["found"]) == ("CNAME", True, [TARGET])


def test_the_recheck_hands_out_waiting_domains_once_each_until_they_are_due_again(
    acme: Organization, acme_domain: Domain, zone: DnsSandbox, settings: Settings
) -> None:
    active = domain_register(organization=acme, hostname=f"www.{ZONE}").domain
    Domain.objects.filter(pk=active.pk).update(status=DomainStatus.ACTIVE)

    first = due_for_recheck(10)
    second = due_for_recheck(10)
    DnsCheck.objects.filter(pk=acme_domain.pk).update(
        checked_at=timezone.now() - timedelta(minutes=settings.DNS_RECHECK_MINUTES + 1)
    )
    later = due_for_recheck(10)

    assert first == [str(acme_domain.pk)]  # the active domain is not waiting for records
    assert second == []
    assert later == [str(acme_domain.pk)]


def test_a_claim_alone_is_not_a_change_the_first_real_check_is_quiet(
    acme_domain: Domain, zone: DnsSandbox
) -> None:
    due_for_recheck(10)
    zone.cname(acme_domain.hostname, TARGET)

    domain_check_records(acme_domain)

    assert not DomainEvent.objects.filter(kind="dns_changed").exists()
    assert DnsCheck.objects.get(domain=acme_domain).records[0]["match"] is True


def test_a_bare_domain_with_apex_addresses_wants_a_and_aaaa_records_instead_of_the_cname(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings: Settings
) -> None:
    settings.CLOUDFLARE_APEX_IPV4 = ["192.0.2.10"]
    settings.CLOUDFLARE_APEX_IPV6 = ["2001:db8::10"]
    apex = domain_register(organization=acme, hostname="acme-apex.dev").domain
    plain = Domain(hostname="app.acme-apex.dev", dns_records=apex.dns_records[:0])

    wanted = wanted_records(apex)

    assert [(w.type, w.value) for w in wanted if w.type != "TXT"] == [
        ("A", "192.0.2.10"),
        ("AAAA", "2001:db8::10"),
    ]
    assert wanted_records(plain) == []
