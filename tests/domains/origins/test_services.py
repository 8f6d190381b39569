"""Origins: each organization's traffic reaches its own app, through one DNS record per origin
and custom origin servers on its hostnames, against the Cloudflare simulator."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization
from domains.errors import DomainError
from domains.models import (
    Domain,
    DomainEvent,
    DomainEventKind,
    Origin,
    OriginState,
    ZoneEntitlement,
)
from domains.origins.address import parse_origin_address
from domains.origins.services import (
    custom_origins_allow,
    domain_set_origin,
    origin_create,
    origin_delete,
    origin_make_default,
    origin_update,
    origins_sync,
)
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("acme_on_pro")]

APP = "93.184.215.14"  # a public address (nothing connects to it in these tests)
OTHER = "93.184.215.15"


def register(org: Organization, hostname: str, origin: Origin | None = None) -> Domain:
    return domain_register(organization=org, hostname=hostname, origin=origin).domain


def calls(sim: CloudflareSandbox, since: int = 0) -> list[tuple[str, str]]:
    """(method, path after the zone) of each request the simulator got since `since`."""
    return [(r.method, r.path.split("/", 5)[-1]) for r in sim.requests[since:]]


def served_from(sim: CloudflareSandbox, hostname: str) -> Any:
    return sim.route(hostname).get("origin")


def test_an_origin_gets_one_proxied_record_and_the_organizations_domains_follow_it(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    domain = register(acme, "shop.acme-customer.dev")
    origin = origin_create(organization=acme, name="Production", address=APP)

    report = origins_sync()

    origin.refresh_from_db()
    domain.refresh_from_db()
    (record,) = cloudflare_sim.dns_records()
    assert origin.is_default  # the first origin is the default
    assert origin.state == OriginState.READY
    assert record["name"] == origin.record_name
    assert record["name"].endswith(".origins.pcnaid.com")
    assert "acme" not in record["name"]  # the name reveals nothing about the tenant
    assert (record["type"], record["content"], record["proxied"]) == ("A", APP, True)
    assert record["comment"] == f"dcvaas:origin={origin.pk}"
    assert report.hostnames_patched == 1
    assert domain.origin_server == domain.origin_applied == origin.record_name
    assert served_from(cloudflare_sim, "shop.acme-customer.dev") == APP
    assert DomainEvent.objects.filter(domain=domain, kind=DomainEventKind.ORIGIN_CHANGED).exists()


def test_a_domain_added_after_the_origin_is_registered_on_it_at_once(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    origin_create(organization=acme, name="Production", address=APP)
    origins_sync()

    domain = register(acme, "shop.acme-customer.dev")

    assert domain.origin_applied == domain.origin_server != ""
    assert served_from(cloudflare_sim, "shop.acme-customer.dev") == APP


def test_changing_an_origins_address_is_one_dns_call_whatever_it_serves(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    origin = origin_create(organization=acme, name="Production", address=APP)
    origins_sync()
    for index in range(5):
        register(acme, f"shop{index}.acme-customer.dev")
    before = len(cloudflare_sim.requests)

    origin_update(origin=origin, address=OTHER)
    origins_sync()

    assert calls(cloudflare_sim, before) == [("PATCH", f"dns_records/{origin.record_id}")]
    assert {served_from(cloudflare_sim, f"shop{i}.acme-customer.dev") for i in range(5)} == {OTHER}


def test_changing_an_address_to_another_kind_overwrites_the_record_under_the_same_name(
    acme: Organization, cloudflare_sim: CloudflareSandbox, dns_sandbox: DnsSandbox
) -> None:
    dns_sandbox.set_record("myapp.fly-customer.dev", "A", APP)
    origin = origin_create(organization=acme, name="Production", address=APP)
    origins_sync()
    origin.refresh_from_db()
    record_id = origin.record_id

    origin_update(origin=origin, address="myapp.fly-customer.dev")
    origins_sync()

    (record,) = cloudflare_sim.dns_records()
    assert (record["id"], record["type"], record["content"]) == (
        record_id,
        "CNAME",
        "myapp.fly-customer.dev",
    )
    assert record["name"] == origin.record_name


def test_moving_a_domain_and_changing_the_default_patch_only_the_hostnames_concerned(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    production = origin_create(organization=acme, name="Production", address=APP)
    staging = origin_create(organization=acme, name="Staging", address=OTHER)
    origins_sync()
    register(acme, "a.acme-customer.dev")
    b = register(acme, "b.acme-customer.dev")

    domain_set_origin(domain=b, origin=staging)
    moved = origins_sync()
    origin_make_default(origin=staging)
    defaulted = origins_sync()

    assert moved.hostnames_patched == 1
    assert defaulted.hostnames_patched == 1  # b already was on staging
    assert served_from(cloudflare_sim, "a.acme-customer.dev") == OTHER
    assert served_from(cloudflare_sim, "b.acme-customer.dev") == OTHER
    production.refresh_from_db()
    assert not production.is_default


def test_an_origin_in_use_cannot_be_deleted_until_its_domains_move(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    production = origin_create(organization=acme, name="Production", address=APP)
    staging = origin_create(organization=acme, name="Staging", address=OTHER)
    origins_sync()
    domain = register(acme, "a.acme-customer.dev", origin=staging)

    with pytest.raises(DomainError) as chosen:
        origin_delete(origin=staging)
    with pytest.raises(DomainError) as default:
        origin_delete(origin=production)
    domain_set_origin(domain=domain, origin=None)
    origin_delete(origin=staging)
    origins_sync()

    assert chosen.value.code == "in_use"
    assert default.value.code == "default_in_use"
    assert not Origin.objects.filter(pk=staging.pk).exists()
    assert [r["content"] for r in cloudflare_sim.dns_records()] == [APP]
    assert served_from(cloudflare_sim, "a.acme-customer.dev") == APP


def test_deleting_the_last_origin_returns_its_domains_to_the_fallback_before_the_record_goes(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    origin = origin_create(organization=acme, name="Production", address=APP)
    origins_sync()
    domain = register(acme, "a.acme-customer.dev")
    cloudflare_sim.inject_fault("500", path_contains="/custom_hostnames/", method="PATCH")

    origin_delete(origin=origin)
    first = origins_sync()  # the hostname cannot be moved: the record must stay
    record_kept = cloudflare_sim.dns_records()
    cloudflare_sim.clear_faults()
    origins_sync()

    domain.refresh_from_db()
    assert first.failed == 1
    assert len(record_kept) == 1
    assert "custom_origin_server" not in cloudflare_sim.hostname("a.acme-customer.dev")
    assert domain.origin_server == domain.origin_applied == ""
    assert cloudflare_sim.dns_records() == []
    assert not Origin.objects.filter(pk=origin.pk).exists()


def test_a_run_that_died_after_writing_the_record_is_finished_without_a_second_record(
    acme: Organization, cloudflare_sim: CloudflareSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domains.origins import services

    register(acme, "a.acme-customer.dev")
    origin_create(organization=acme, name="Production", address=APP)

    def crash(organization_id: int) -> int:
        raise RuntimeError("the worker died")

    # The worker dies after Cloudflare wrote the record, before our transaction commits:
    # nothing here knows the record's id, and no hostname points at it yet.
    monkeypatch.setattr(services, "origins_retarget", crash)
    with pytest.raises(RuntimeError):
        origins_sync()
    monkeypatch.undo()
    assert len(cloudflare_sim.dns_records()) == 1
    assert Origin.objects.get().record_id == ""
    assert served_from(cloudflare_sim, "a.acme-customer.dev") is None

    finished = origins_sync()

    assert finished.records_written == 1
    assert len(cloudflare_sim.dns_records()) == 1  # adopted, not written twice
    assert Origin.objects.get().record_id == cloudflare_sim.dns_records()[0]["id"]
    assert served_from(cloudflare_sim, "a.acme-customer.dev") == APP


def test_a_record_found_under_the_origins_name_is_adopted_when_ours_and_never_touched_otherwise(
    acme: Organization, cloudflare_sim: CloudflareSandbox, umbrella: Organization
) -> None:
    ours = origin_create(organization=acme, name="Production", address=APP)
    theirs = origin_create(organization=umbrella, name="Production", address=APP)
    cloudflare_sim.put_dns_record(ours.record_name, OTHER, comment=ours.marker, type_="A")
    cloudflare_sim.put_dns_record(theirs.record_name, OTHER, comment="", type_="A")

    origins_sync()

    ours.refresh_from_db()
    theirs.refresh_from_db()
    contents = {r["name"]: r["content"] for r in cloudflare_sim.dns_records()}
    assert len(cloudflare_sim.dns_records()) == 2
    assert contents[ours.record_name] == APP  # adopted and corrected
    assert ours.state == OriginState.READY
    assert contents[theirs.record_name] == OTHER  # left as it was
    assert theirs.state == OriginState.FAILED
    assert "not written by DCVaaS" in theirs.last_error


def test_a_record_deleted_behind_our_back_is_written_again_before_hostnames_point_at_it(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    production = origin_create(organization=acme, name="Production", address=APP)
    staging = origin_create(organization=acme, name="Staging", address=OTHER)
    origins_sync()
    domain = register(acme, "a.acme-customer.dev")
    cloudflare_sim.delete_dns_record(staging.record_name)

    domain_set_origin(domain=domain, origin=staging)
    refused = origins_sync()  # Cloudflare answers 1421: the record is missing
    origins_sync()
    origins_sync()

    assert refused.failed == 1
    assert served_from(cloudflare_sim, "a.acme-customer.dev") == OTHER
    assert production.pk != staging.pk


def test_a_zone_without_the_entitlement_keeps_serving_from_the_fallback_and_says_so(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    cloudflare_sim.configure(custom_origins=False)
    register(acme, "a.acme-customer.dev")
    origin_create(organization=acme, name="Production", address=APP)

    origins_sync()
    later = register(acme, "b.acme-customer.dev")

    assert "not enabled" in ZoneEntitlement.custom_origins_refusal()
    assert later.cloudflare_id  # registered all the same, on the fallback origin
    assert "custom_origin_server" not in cloudflare_sim.hostname("b.acme-customer.dev")

    cloudflare_sim.configure(custom_origins=True)
    custom_origins_allow()
    origins_sync()

    assert ZoneEntitlement.custom_origins_refusal() == ""
    assert served_from(cloudflare_sim, "a.acme-customer.dev") == APP
    assert served_from(cloudflare_sim, "b.acme-customer.dev") == APP


def test_a_domain_is_never_attached_to_another_organizations_origin(
    acme: Organization, umbrella: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    theirs = origin_create(organization=umbrella, name="Theirs", address=APP)
    domain = register(acme, "a.acme-customer.dev")

    with pytest.raises(DomainError):
        domain_set_origin(domain=domain, origin=theirs)
    with pytest.raises(DomainError) as on_create:
        register(acme, "b.acme-customer.dev", origin=theirs)

    domain.refresh_from_db()
    assert domain.origin_id is None
    assert on_create.value.code == "unknown_origin"
    assert not Domain.objects.filter(hostname="b.acme-customer.dev").exists()


def test_the_plan_caps_the_number_of_origins(umbrella: Organization) -> None:
    origin_create(organization=umbrella, name="Production", address=APP)

    with pytest.raises(DomainError) as error:
        origin_create(organization=umbrella, name="Staging", address=OTHER)

    assert error.value.code == "plan_limit"
    assert "Free plan allows 1 origin." in error.value.message


def test_retargeting_takes_a_few_statements_whatever_the_number_of_domains(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.origins.services import origins_retarget
    from tests.factories import DomainFactory

    origin = origin_create(organization=acme, name="Production", address=APP)
    origins_sync()
    DomainFactory.create_batch(40, organization=acme)

    with CaptureQueriesContext(connection) as queries:
        changed = origins_retarget(acme.pk)

    assert changed == 40
    assert len(queries) == 3  # the origins, one UPDATE per origin, one for the followers
    assert Domain.objects.filter(origin_server=origin.record_name).count() == 40


# ---------------------------------------------------------------------------------------------
# What an origin may be
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("100.100.100.200", "a carrier-grade NAT address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("0.0.0.0", "a reserved address"),  # noqa: S104 - refused, which is the point
        ("192.0.2.10", "a documentation address"),
        ("198.51.100.10", "a documentation address"),
        ("203.0.113.10", "a documentation address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a private address"),
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "a documentation address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("::ffff:169.254.169.254", "a link-local address"),
    ],
)
def test_an_address_inside_a_network_is_refused_with_its_reason(address: str, reason: str) -> None:
    with pytest.raises(DomainError) as error:
        parse_origin_address(address)

    assert error.value.code == "refused_address"
    assert reason in error.value.message


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("app.localhost", "reserved_tld"),
        ("metadata.google.internal", "reserved_tld"),
        ("printer.local", "reserved_tld"),
        ("site.onion", "reserved_tld"),
        ("1.0.0.10.in-addr.arpa", "reserved_tld"),
        ("app.test", "reserved_tld"),
        ("app.example.com", "example_domain"),
        ("localhost", "single_label"),
        ("origins.pcnaid.com", "own_zone"),
        ("x.origins.pcnaid.com", "own_zone"),
        ("dcv.pcnaid.com", "own_zone"),
        ("pcnaid.com", "own_zone"),
        ("*.fly-customer.dev", "wildcard_not_allowed"),
        ("myapp.fly-customer.dev:8080", "port"),
        ("https://myapp.fly-customer.dev:8443/", "port"),
        ("", "required"),
    ],
)
def test_a_special_use_or_own_name_is_refused(address: str, code: str) -> None:
    with pytest.raises(DomainError) as error:
        parse_origin_address(address)

    assert error.value.code == code


def test_a_pasted_url_or_address_is_normalised() -> None:
    assert parse_origin_address(" https://MyApp.Fly-Customer.dev/ ").value == (
        "myapp.fly-customer.dev"
    )
    assert parse_origin_address("[2606:4700:0:0::1111]").value == "2606:4700::1111"
    assert parse_origin_address("2606:4700::1111").record_type == "AAAA"
    assert parse_origin_address(APP).record_type == "A"


def test_a_hostname_that_resolves_only_to_refused_addresses_is_refused(
    acme: Organization, dns_sandbox: DnsSandbox
) -> None:
    dns_sandbox.set_record("internal.fly-customer.dev", "A", ["10.0.0.5", "192.168.0.7"])
    dns_sandbox.set_record("mixed.fly-customer.dev", "A", ["10.0.0.5", APP])

    with pytest.raises(DomainError) as error:
        origin_create(organization=acme, name="Internal", address="internal.fly-customer.dev")
    mixed = origin_create(organization=acme, name="Mixed", address="mixed.fly-customer.dev")

    assert "resolves to 10.0.0.5, a private address" in error.value.message
    assert mixed.address == "mixed.fly-customer.dev"


def test_a_domain_moved_to_another_origin_tells_the_tenants_app(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.models import WebhookEndpoint, WebhookMessage

    WebhookEndpoint.objects.create(organization=acme, url="https://hooks.acme-customer.dev/in")
    register(acme, "a.acme-customer.dev")
    origin = origin_create(organization=acme, name="Production", address=APP)

    origins_sync()

    message = WebhookMessage.objects.get(type="domain.origin_changed")
    assert message.payload["data"]["domain"]["served_by"]["id"] == str(origin.pk)


def test_a_record_name_cloudflare_will_never_take_is_explained_on_the_origin(
    acme: Organization, cloudflare_sim: CloudflareSandbox, settings: Any
) -> None:
    settings.CLOUDFLARE_ZONE_NAME = "pcnaid.test"  # a reserved TLD: Cloudflare answers 1417
    cloudflare_sim.configure(zone_name="pcnaid.test")
    register(acme, "a.acme-customer.dev")
    origin = origin_create(organization=acme, name="Production", address=APP)

    report = origins_sync()

    origin.refresh_from_db()
    assert report.failed == 1
    assert origin.state == OriginState.FAILED
    assert "reserved top-level domain" in origin.last_error
    assert served_from(cloudflare_sim, "a.acme-customer.dev") is None


def test_an_organization_deleted_with_its_origins_leaves_no_record_behind(
    acme: Organization, umbrella: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.origins.services import origins_sweep

    origin_create(organization=umbrella, name="Theirs", address=APP)
    ours = origin_create(organization=acme, name="Ours", address=OTHER)
    origins_sync()
    cloudflare_sim.put_dns_record("www.pcnaid.com", "app.pcnaid-site.dev", comment="")
    umbrella.delete()  # staff remove an organization: its rows go, its record stays

    removed = origins_sweep()

    names = sorted(r["name"] for r in cloudflare_sim.dns_records())
    ours.refresh_from_db()
    assert removed == 1
    assert names == sorted([ours.record_name, "www.pcnaid.com"])


def test_an_organization_with_domains_on_its_origins_can_still_be_deleted(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    origin = origin_create(organization=acme, name="Production", address=APP)
    origins_sync()
    domain = register(acme, "a.acme-customer.dev", origin=origin)

    acme.delete()

    assert not Domain.objects.filter(pk=domain.pk).exists()
    assert not Origin.objects.exists()


def test_the_webhooks_of_many_moved_domains_look_the_origins_up_once(
    acme: Organization, cloudflare_sim: CloudflareSandbox
) -> None:
    from domains.models import WebhookEndpoint, WebhookMessage

    WebhookEndpoint.objects.create(organization=acme, url="https://hooks.acme-customer.dev/in")
    for index in range(5):
        register(acme, f"s{index}.acme-customer.dev")
    origin_create(organization=acme, name="Production", address=APP)

    with CaptureQueriesContext(connection) as queries:
        report = origins_sync()

    origin_reads = [
        q["sql"] for q in queries.captured_queries if 'FROM "domains_origin"' in q["sql"]
    ]
    assert report.hostnames_patched == 5
    assert WebhookMessage.objects.filter(type="domain.origin_changed").count() == 5
    # The due origins, the one written (retargeting), the hostnames' targets, the payloads'.
    assert len(origin_reads) <= 5
