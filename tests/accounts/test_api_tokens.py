from __future__ import annotations

import hashlib

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import ApiToken, Organization, User
from accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from dcvaas.once import KEY_FIELD, new_key

pytestmark = pytest.mark.django_db


def test_an_owner_creates_a_token_and_sees_it_exactly_once(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    response = client.post("/tokens/", {"name": "CI deploys", KEY_FIELD: new_key()})

    token = ApiToken.objects.get(organization=acme)
    raw = response.context["new_token"]["raw"]
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert raw.startswith("dcv_")
    assert raw.encode() in response.content
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert token.display_prefix == raw[:10]
    assert raw.encode() not in client.get("/tokens/").content
    assert not ApiToken.objects.filter(digest=raw).exists()


def test_a_new_raw_token_is_never_kept_in_the_session(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)

    response = client.post("/tokens/", {"name": "CI deploys", KEY_FIELD: new_key()})

    raw = response.context["new_token"]["raw"]
    stored = Session.objects.get(session_key=client.session.session_key)
    assert raw not in str(stored.get_decoded())
    assert raw not in str(dict(client.session))


def test_a_token_needs_a_name(client: Client, alice: User, acme: Organization) -> None:
    client.force_login(alice)

    response = client.post("/tokens/", {"name": "   ", KEY_FIELD: new_key()})

    assert response.status_code == 200
    assert b"Give the token a name" in response.content
    assert not ApiToken.objects.exists()


def test_a_member_sees_tokens_but_cannot_create_or_revoke_them(
    client: Client, alice: User, bob: User, acme: Organization
) -> None:
    token, _raw = api_token_create(organization=acme, created_by=alice, name="deploys")
    client.force_login(bob)

    assert b"deploys" in client.get("/tokens/").content
    assert client.post("/tokens/", {"name": "mine", KEY_FIELD: new_key()}).status_code == 403
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.is_active


def test_another_organizations_token_is_a_404_and_invisible(
    client: Client, alice: User, acme: Organization, charlie: User
) -> None:
    token, _raw = api_token_create(organization=acme, created_by=alice, name="acme-secret-name")
    client.force_login(charlie)

    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    assert b"acme-secret-name" not in client.get("/tokens/").content
    token.refresh_from_db()
    assert token.is_active


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, acme: Organization) -> None:
    assert client.get("/tokens/")["Location"].startswith("/accounts/login/")


def test_an_owner_revokes_a_token_and_it_stops_authenticating(
    client: Client, alice: User, acme: Organization
) -> None:
    token, raw = api_token_create(organization=acme, created_by=alice, name="old")
    client.force_login(alice)

    response = client.post(f"/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_token_authenticate(raw) is None


def test_authenticating_records_last_use_and_rejects_lookalikes(
    alice: User, acme: Organization
) -> None:
    token, raw = api_token_create(organization=acme, created_by=alice, name="t")

    assert api_token_authenticate(raw) == token
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert api_token_authenticate(raw + "x") is None
    assert api_token_authenticate(raw.removeprefix("dcv_")) is None


def test_revoking_twice_keeps_the_first_revocation_time(alice: User, acme: Organization) -> None:
    token, _raw = api_token_create(organization=acme, created_by=alice, name="t")
    first = api_token_revoke(token=token).revoked_at

    assert api_token_revoke(token=token).revoked_at == first


def test_a_resubmitted_token_form_creates_no_second_token(
    client: Client, alice: User, acme: Organization
) -> None:
    client.force_login(alice)
    key = new_key()

    first = client.post("/tokens/", {"name": "CI deploys", KEY_FIELD: key})
    again = client.post("/tokens/", {"name": "CI deploys", KEY_FIELD: key}, follow=True)
    keyless = client.post("/tokens/", {"name": "CI deploys"}, follow=True)

    assert first.status_code == 200
    assert ApiToken.objects.filter(organization=acme).count() == 1
    assert "That form was already sent" in again.content.decode()
    assert "That form was already sent" in keyless.content.decode()
    assert 'name="once" value="' in first.content.decode()  # the next form's own key
