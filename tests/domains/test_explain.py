"""What each state of a domain is called, and what the customer is told to do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from domains.explain import explain
from domains.models import Domain, DomainStatus

TARGET = "dcv.pcnaid.com"
CAA = "caa_error: app.shop.dev"


def _domain(status: str, cloudflare: str, ssl: str, **fields: object) -> Domain:
    return Domain(
        hostname="app.shop.dev",
        status=status,
        cloudflare_status=cloudflare,
        ssl_status=ssl,
        **fields,
    )


def test_a_caa_problem_says_what_to_do_never_that_there_is_nothing_to_do() -> None:
    domain = _domain(DomainStatus.FAILED, "active", "pending_validation", validation_errors=[CAA])

    explanation = explain(domain, target=TARGET)

    assert explanation.headline == "Action needed: the certificate cannot be issued"
    assert "Nothing to do" not in explanation.next_step
    assert "CAA" in explanation.problems[0]


def test_an_expired_certificate_is_said_to_have_expired() -> None:
    domain = _domain(DomainStatus.FAILED, "active", "expired")

    explanation = explain(domain, target=TARGET)

    assert "expired" in explanation.headline
    assert "Nothing to do" not in explanation.next_step
    assert "Check now" in explanation.next_step


@pytest.mark.parametrize(
    ("ssl", "headline"),
    [
        ("validation_timed_out", "Certificate validation timed out"),
        ("issuance_timed_out", "Issuing the certificate timed out"),
        ("deployment_timed_out", "Deploying the certificate timed out"),
        ("initializing_timed_out", "Ordering the certificate timed out"),
    ],
)
def test_each_timeout_is_named_for_the_step_that_timed_out(ssl: str, headline: str) -> None:
    explanation = explain(_domain(DomainStatus.FAILED, "pending", ssl), target=TARGET)

    assert explanation.headline == headline


@pytest.mark.parametrize("kept_as", ["deleted", "pending_deletion"])
def test_a_hostname_removed_at_cloudflare_promises_only_what_the_loop_does(kept_as: str) -> None:
    explanation = explain(_domain(DomainStatus.PENDING, kept_as, ""), target=TARGET)

    assert explanation.headline == "Removed at Cloudflare"
    assert "registers it again" in explanation.next_step


def test_a_domain_registered_again_after_cloudflare_lost_it_is_not_blamed_on_the_cname() -> None:
    domain = _domain(
        DomainStatus.PENDING,
        "pending",
        "initializing",
        activated_at=timezone.now() - timedelta(days=30),
    )

    explanation = explain(domain, target=TARGET)

    assert explanation.headline == "Being validated again"
    assert "nothing to do" in explanation.next_step


def test_a_new_domain_without_its_record_waits_for_the_dns_record() -> None:
    explanation = explain(_domain(DomainStatus.PENDING, "pending", "initializing"), target=TARGET)

    assert explanation.headline == "Waiting for the DNS record"
