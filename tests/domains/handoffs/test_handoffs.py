"""Hand-off links: a domain's DNS instructions for whoever manages its DNS, without an account.
The secret is stored as a digest only; unknown, expired and revoked links answer 404 alike; the
page is private (never cached, indexed, framed or sent on as a referrer); its checks are
throttled per link and per address; another organization never reaches a link or a domain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import Organization, User
from domains.handoffs.services import handoff_create, handoff_revoke
from domains.models import Domain, DomainStatus, Handoff
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = pytest.mark.django_db

HOSTNAME = "shop.acme.test-customer.dev"


@pytest.fixture
def acme_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname=HOSTNAME).domain


@pytest.fixture
def link(acme_domain: Domain, alice: User) -> tuple[Handoff, str]:
    return handoff_create(domain=acme_domain, actor=alice)


def path_of(raw: str) -> str:
    return f"/dns/{raw}/"


def test_a_link_keeps_only_a_digest_of_its_256_bit_secret(link: tuple[Handoff, str]) -> None:
    handoff, raw = link

    stored = Handoff.objects.get(pk=handoff.pk)
    assert raw.startswith("dns_")
    assert len(raw) >= 4 + 43  # 32 random bytes, url-safe
    assert stored.digest == Handoff.digest_of(raw)
    assert raw not in str(list(Handoff.objects.values_list()))


def test_the_page_opens_signed_out_with_the_records_and_nothing_else_of_the_organization(
    client: Client, acme: Organization, acme_domain: Domain, link: tuple[Handoff, str]
) -> None:
    domain_register(organization=acme, hostname="secret-project.acme.test-customer.dev")

    response = client.get(path_of(link[1]))

    page = response.content.decode()
    assert response.status_code == 200
    assert '<strong data-testid="asked-by">Acme</strong> asks you to create a DNS record' in page
    assert HOSTNAME in page
    assert "dcv.pcnaid.com" in page
    assert "secret-project" not in page  # another of the organization's domains
    assert "alice" not in page
    assert "Check my records" in page
    added = timezone.localtime(acme_domain.created_at) + timedelta(days=7)
    assert f"Cloudflare keeps checking for the record until about {added:%B} {added.day}," in page


def test_the_page_is_never_cached_indexed_framed_or_sent_on_as_a_referrer(
    client: Client, link: tuple[Handoff, str]
) -> None:
    response = client.get(path_of(link[1]))

    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def test_unknown_expired_and_revoked_links_answer_404_alike(
    client: Client, acme_domain: Domain, link: tuple[Handoff, str]
) -> None:
    expired = handoff_create(domain=acme_domain, days=1)[1]
    revoked_handoff, revoked = handoff_create(domain=acme_domain)
    handoff_revoke(handoff=revoked_handoff)

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        answers = [
            client.get(path_of(raw)).status_code
            for raw in ("dns_" + "x" * 43, expired, revoked, "not-even-a-link")
        ]
        still = client.get(path_of(link[1])).status_code

    assert answers == [404, 404, 404, 404]
    assert still == 200


def test_a_link_to_a_domain_being_removed_answers_404(
    client: Client, acme_domain: Domain, link: tuple[Handoff, str]
) -> None:
    Domain.objects.filter(pk=acme_domain.pk).update(status=DomainStatus.DELETING)

    assert client.get(path_of(link[1])).status_code == 404


def test_opening_the_link_shows_on_the_domain_page_as_opened(
    client: Client, alice: User, acme_domain: Domain, link: tuple[Handoff, str]
) -> None:
    Client().get(path_of(link[1]))  # whoever manages the DNS, signed out
    client.force_login(alice)

    page = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert Handoff.objects.get(pk=link[0].pk).last_viewed_at is not None
    viewed = page.split('data-testid="handoff-viewed">', 1)[1].split("</td>", 1)[0]
    checked = page.split('data-testid="handoff-checked">', 1)[1].split("</td>", 1)[0]
    assert viewed == "now"
    assert checked == "not yet"


def test_check_my_records_checks_and_says_what_it_found(
    client: Client, acme_domain: Domain, link: tuple[Handoff, str], dns_sandbox: DnsSandbox
) -> None:
    dns_sandbox.cname(HOSTNAME, "dcv.pcnaid.com")

    response = client.post(path_of(link[1]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "points to dcv.pcnaid.com" in page
    # Each record, expected vs found, as on the domain page.
    assert 'data-testid="record-check" data-code="ok"' in page
    assert Handoff.objects.get(pk=link[0].pk).last_checked_at is not None


def test_check_my_records_is_throttled_per_link(
    client: Client, link: tuple[Handoff, str], settings: Any
) -> None:
    settings.HANDOFF_CHECK_RATE_PER_LINK = "1/hour"

    first = client.post(path_of(link[1]))
    second = client.post(path_of(link[1]))

    assert first.status_code == 200
    assert second.status_code == 429
    assert "try again in" in second.content.decode()


def test_check_my_records_is_throttled_per_address_across_links(
    client: Client, acme: Organization, link: tuple[Handoff, str], settings: Any
) -> None:
    settings.HANDOFF_CHECK_RATE_PER_IP = "1/hour"
    other = domain_register(organization=acme, hostname="two.acme.test-customer.dev").domain
    second_link = handoff_create(domain=other)[1]

    assert client.post(path_of(link[1])).status_code == 200
    assert client.post(path_of(second_link)).status_code == 429


def test_a_member_makes_a_link_shown_once_and_revokes_it(
    client: Client, bob: User, acme_domain: Domain
) -> None:
    client.force_login(bob)

    made = client.post(f"/domains/{acme_domain.pk}/handoffs/")

    page = made.content.decode()
    assert "no-store" in made["Cache-Control"]
    url = page.split('data-testid="handoff-url">', 1)[1].split("<", 1)[0]
    raw = url.rstrip("/").rsplit("/", 1)[1]
    assert Client().get(path_of(raw)).status_code == 200
    handoff = Handoff.objects.get()
    client.post(f"/domains/{acme_domain.pk}/handoffs/{handoff.pk}/revoke/")
    assert Client().get(path_of(raw)).status_code == 404


def test_another_organization_can_neither_make_nor_revoke_acmes_links(
    client: Client, charlie: User, acme_domain: Domain, link: tuple[Handoff, str]
) -> None:
    client.force_login(charlie)

    made = client.post(f"/domains/{acme_domain.pk}/handoffs/")
    revoked = client.post(f"/domains/{acme_domain.pk}/handoffs/{link[0].pk}/revoke/")

    assert (made.status_code, revoked.status_code) == (404, 404)
    assert Handoff.objects.count() == 1
    assert Handoff.objects.get().revoked_at is None


# The API ---------------------------------------------------------------------------------------
def api(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_makes_lists_and_revokes_links(acme_token: str, acme_domain: Domain) -> None:
    base = f"/api/v1/domains/{acme_domain.pk}/handoffs"

    made = api(acme_token).post(base, {"days": 3}, content_type="application/json")
    listed = api(acme_token).get(base).json()
    handoff_id = made.json()["id"]
    revoked = api(acme_token).delete(f"{base}/{handoff_id}")

    assert made.status_code == 201
    assert made["Cache-Control"] == "no-store"
    assert made.json()["url"].startswith("http")
    raw = made.json()["url"].rstrip("/").rsplit("/", 1)[1]
    assert [row["id"] for row in listed["results"]] == [handoff_id]
    assert "url" not in listed["results"][0]
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert Client().get(path_of(raw)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [({"days": 0}, "days"), ({"days": 91}, "days"), ({"days": "x"}, "days"), ({"dayz": 3}, "dayz")],
)
def test_the_api_refuses_bad_input_with_the_field_named(
    acme_token: str, acme_domain: Domain, body: dict[str, Any], field: str
) -> None:
    response = api(acme_token).post(
        f"/api/v1/domains/{acme_domain.pk}/handoffs", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Handoff.objects.exists()


def test_another_organizations_token_gets_404_for_acmes_domain_and_links(
    umbrella_token: str, acme_domain: Domain, link: tuple[Handoff, str]
) -> None:
    base = f"/api/v1/domains/{acme_domain.pk}/handoffs"

    answers = [
        api(umbrella_token).get(base).status_code,
        api(umbrella_token).post(base, {}, content_type="application/json").status_code,
        api(umbrella_token).delete(f"{base}/{link[0].pk}").status_code,
    ]

    assert answers == [404, 404, 404]
    assert Handoff.objects.get().revoked_at is None
