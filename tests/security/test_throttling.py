"""Each limit bites: allauth's sign-in limits, the GitHub sign-in start, API tokens, bad tokens.

Limits are set small per test; every count lives in the shared cache (Redis under CI, the
database cache otherwise), which tests/conftest.py empties before each test.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Organization, User
from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

DOMAINS = "/api/v1/domains"


@pytest.fixture
def raw_token(acme: Organization, alice: User) -> str:
    return api_token_create(organization=acme, created_by=alice, name="ci")[1]


def test_allauth_limits_sign_in_attempts_per_ip(client: Client, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip"}
    form = {"login": "nobody", "password": "wrong"}

    answers = [client.post(reverse("account_login"), form).status_code for _ in range(3)]

    assert answers[:2] == [200, 200]
    assert answers[2] == 429


def test_the_github_sign_in_start_is_throttled_per_ip_with_retry_after(
    client: Client, settings: Any
) -> None:
    settings.SIGN_IN_THROTTLE_RATE = "2/min"
    start = reverse("github_login")

    first, second, third = (client.get(start) for _ in range(3))

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    assert 1 <= int(third["Retry-After"]) <= 60
    assert "Try again in" in third.content.decode()


def test_the_github_sign_in_start_counts_posts_too(client: Client, settings: Any) -> None:
    settings.SIGN_IN_THROTTLE_RATE = "1/min"
    start = reverse("github_login")

    client.get(start)
    response = client.post(start)

    assert response.status_code == 429


def test_one_address_spending_its_sign_in_limit_leaves_others_alone(
    client: Client, settings: Any
) -> None:
    settings.SIGN_IN_THROTTLE_RATE = "1/min"
    start = reverse("github_login")
    client.get(start, REMOTE_ADDR="203.0.113.7")

    assert client.get(start, REMOTE_ADDR="203.0.113.7").status_code == 429
    assert client.get(start, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_throttled(
    client: Client, settings: Any
) -> None:
    settings.SIGN_IN_THROTTLE_RATE = "1/min"
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    start = reverse("github_login")
    client.get(start, HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert client.get(start, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert client.get(start, HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 200


def test_an_api_token_is_throttled_with_retry_after(
    client: Client, raw_token: str, settings: Any
) -> None:
    settings.API_THROTTLE_RATE = "2/min"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"}

    answers = [client.get(DOMAINS, **auth) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "throttled"
    assert 1 <= int(answers[2]["Retry-After"]) <= 60


def test_requests_with_invalid_tokens_are_throttled_per_ip(client: Client, settings: Any) -> None:
    settings.API_ANON_THROTTLE_RATE = "3/min"
    guesses = [f"Bearer dcv_guess{n:040d}" for n in range(4)]

    answers = [client.get(DOMAINS, HTTP_AUTHORIZATION=guess) for guess in guesses]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[3].json()["code"] == "throttled"
    assert 1 <= int(answers[3]["Retry-After"]) <= 60


def test_requests_without_a_token_count_against_the_same_limit(
    client: Client, settings: Any
) -> None:
    settings.API_ANON_THROTTLE_RATE = "2/min"

    answers = [client.get(DOMAINS).status_code for _ in range(3)]

    assert answers == [401, 401, 429]


def test_a_throttled_address_cannot_confirm_a_right_guess(
    client: Client, raw_token: str, settings: Any
) -> None:
    # Otherwise a guesser would keep guessing and only watch for the one answer that is not 401.
    settings.API_ANON_THROTTLE_RATE = "1/min"
    client.get(DOMAINS, HTTP_AUTHORIZATION="Bearer dcv_wrong")

    response = client.get(DOMAINS, HTTP_AUTHORIZATION=f"Bearer {raw_token}")

    assert response.status_code == 429


def test_valid_token_requests_and_the_public_docs_do_not_spend_the_bad_token_limit(
    client: Client, raw_token: str, settings: Any
) -> None:
    settings.API_ANON_THROTTLE_RATE = "1/min"
    for _ in range(3):
        assert client.get(DOMAINS, HTTP_AUTHORIZATION=f"Bearer {raw_token}").status_code == 200
        assert client.get("/api/v1/schema/").status_code == 200

    assert client.get(DOMAINS, HTTP_AUTHORIZATION="Bearer dcv_wrong").status_code == 401


def test_bad_tokens_from_one_address_leave_other_addresses_alone(
    client: Client, raw_token: str, settings: Any
) -> None:
    settings.API_ANON_THROTTLE_RATE = "1/min"
    client.get(DOMAINS, HTTP_AUTHORIZATION="Bearer dcv_wrong", REMOTE_ADDR="203.0.113.7")

    elsewhere = client.get(
        DOMAINS, HTTP_AUTHORIZATION=f"Bearer {raw_token}", REMOTE_ADDR="198.51.100.9"
    )

    assert elsewhere.status_code == 200


def test_a_malformed_rate_is_a_clear_configuration_error(client: Client, settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.SIGN_IN_THROTTLE_RATE = "lots"

    with pytest.raises(ImproperlyConfigured, match="SIGN_IN_THROTTLE_RATE"):
        client.get(reverse("github_login"))
