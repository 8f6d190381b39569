"""An organization's people: invitations that work once, for 7 days, unless revoked; roles;
removal and leaving; ownership; the last owner stays."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.members import MemberError, invitation_accept, invitation_create, member_leave
from accounts.models import Invitation, Membership, Organization, Role, User
from domains.models import WebhookEndpoint, WebhookMessage

pytestmark = pytest.mark.django_db

INVITEE = "dana@acme-partner.example"


def link_in(message: mail.EmailMessage) -> str:
    found = re.search(r"http://\S+/invitations/(inv_\S+)/", message.body)
    assert found is not None, message.body
    return f"/invitations/{found[1]}/"


@pytest.fixture
def owner_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


def invite(client: Client, email: str = INVITEE, role: str = "member") -> None:
    response = client.post("/settings/members/invite/", {"email": email, "role": role})
    assert response.status_code == 302


def test_an_owner_invites_and_the_invitee_signs_in_and_joins_in_that_role_once(
    owner_client: Client,
    acme: Organization,
    charlie: User,
    django_capture_on_commit_callbacks: object,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        invite(owner_client, role="admin")  # the email goes once the invitation commits
    path = link_in(mail.outbox[-1])
    page = owner_client.get("/settings/members/").content.decode()
    assert INVITEE in page
    assert 'data-testid="invitation"' in page

    owner_client.force_login(charlie)
    shown = owner_client.get(path).content.decode()
    joined = owner_client.post(path)
    again = owner_client.get(path)

    assert "Join Acme" in shown
    assert 'data-testid="invitation-role">admin<' in shown
    assert joined.status_code == 302
    membership = Membership.objects.get(user=charlie, organization=acme)
    assert membership.role == Role.ADMIN
    assert again.status_code == 404  # once
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == charlie  # whoever held the link, recorded
    assert mail.outbox[0].to == [INVITEE]
    assert "alice invites you to Acme" in mail.outbox[0].subject


def test_a_signed_out_invitee_is_sent_to_sign_in_and_back(
    client: Client, acme: Organization, alice: User, django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        _, raw = invitation_create(
            organization=acme, email=INVITEE, role="member", invited_by=alice
        )

    response = client.get(f"/invitations/{raw}/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert f"invitations/{raw}" in response["Location"]


def test_expired_revoked_and_resent_links_stop_working(
    owner_client: Client, acme: Organization, alice: User, charlie: User
) -> None:
    expired = invitation_create(
        organization=acme, email="a@x.example", role="member", invited_by=alice
    )[1]
    revoked_invitation, revoked = invitation_create(
        organization=acme, email="b@x.example", role="member", invited_by=alice
    )
    resent_invitation, old = invitation_create(
        organization=acme, email="c@x.example", role="member", invited_by=alice
    )
    owner_client.post(f"/settings/invitations/{revoked_invitation.pk}/revoke/")
    owner_client.post(f"/settings/invitations/{resent_invitation.pk}/resend/")
    owner_client.force_login(charlie)

    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        late = owner_client.get(f"/invitations/{expired}/").status_code
    answers = [owner_client.get(f"/invitations/{raw}/").status_code for raw in (revoked, old)]

    assert late == 404
    assert answers == [404, 404]


def test_bad_invitations_are_refused_with_a_sentence(
    owner_client: Client, acme: Organization, alice: User, bob: User
) -> None:
    bob.email = "bob@acme.test-customer.dev"
    bob.save()
    invitation_create(organization=acme, email=INVITEE, role="member", invited_by=alice)

    cases = {
        "not-an-email": ("member", "is not an email address"),
        INVITEE.upper(): ("member", "is already invited"),
        "bob@acme.test-customer.dev": ("member", "is already a member"),
        "new@x.example": ("owner", "Invite as an admin or a member."),
    }
    for email, (role, said) in cases.items():
        page = owner_client.post(
            "/settings/members/invite/", {"email": email, "role": role}, follow=True
        ).content.decode()
        assert said in page, email
    assert Invitation.objects.count() == 1


def test_accepting_into_an_organization_you_are_in_keeps_your_role(
    acme: Organization, alice: User, bob: User
) -> None:
    invitation, _ = invitation_create(
        organization=acme, email=INVITEE, role="admin", invited_by=alice
    )

    membership = invitation_accept(invitation=invitation, user=bob)

    assert membership.role == Role.MEMBER
    assert Membership.objects.filter(user=bob, organization=acme).count() == 1
    with pytest.raises(MemberError):
        invitation_accept(invitation=invitation, user=bob)


def test_the_last_owner_can_neither_leave_nor_be_demoted_or_removed(
    owner_client: Client, acme: Organization, alice: User, bob: User
) -> None:
    owner = Membership.objects.get(user=alice, organization=acme)

    with pytest.raises(MemberError) as leaving:
        member_leave(member=owner)
    Membership.objects.filter(user=bob).update(role=Role.ADMIN)
    owner_client.force_login(bob)
    demote = owner_client.post(
        f"/settings/members/{owner.pk}/role/", {"role": "member"}, follow=True
    )
    remove = owner_client.post(f"/settings/members/{owner.pk}/remove/", follow=True)

    assert leaving.value.code == "last_owner"
    assert "Only an owner can change an owner&#x27;s role." in demote.content.decode()
    assert "Only an owner can remove an owner." in remove.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_an_owner_transfers_ownership_then_may_leave(
    owner_client: Client, acme: Organization, alice: User, bob: User
) -> None:
    bobs = Membership.objects.get(user=bob, organization=acme)

    owner_client.post(f"/settings/members/{bobs.pk}/make-owner/")
    left = owner_client.post("/settings/members/leave/")

    assert Membership.objects.get(pk=bobs.pk).role == Role.OWNER
    assert left.status_code == 302
    assert not Membership.objects.filter(user=alice, organization=acme).exists()


def test_a_member_can_neither_invite_nor_change_roles_and_sees_no_controls(
    client: Client, acme: Organization, alice: User, bob: User
) -> None:
    client.force_login(bob)
    owner = Membership.objects.get(user=alice, organization=acme)

    page = client.get("/settings/members/").content.decode()
    invited = client.post("/settings/members/invite/", {"email": INVITEE, "role": "member"})
    changed = client.post(f"/settings/members/{owner.pk}/role/", {"role": "member"})

    assert 'data-testid="invite-form"' not in page
    assert 'data-testid="toggle-role"' not in page
    assert (invited.status_code, changed.status_code) == (403, 403)


def test_another_organizations_members_and_invitations_are_404(
    client: Client, acme: Organization, alice: User, umbrella: Organization, charlie: User
) -> None:
    invitation, _ = invitation_create(
        organization=acme, email=INVITEE, role="member", invited_by=alice
    )
    alices = Membership.objects.get(user=alice, organization=acme)
    client.force_login(charlie)

    answers = [
        client.post(f"/settings/members/{alices.pk}/remove/").status_code,
        client.post(f"/settings/members/{alices.pk}/role/", {"role": "member"}).status_code,
        client.post(f"/settings/invitations/{invitation.pk}/revoke/").status_code,
        client.post(f"/settings/invitations/{invitation.pk}/resend/").status_code,
    ]

    assert answers == [404, 404, 404, 404]
    assert Membership.objects.filter(pk=alices.pk).exists()


def test_the_invitation_page_is_private_and_its_form_needs_the_csrf_token(
    acme: Organization, alice: User, charlie: User
) -> None:
    _, raw = invitation_create(organization=acme, email=INVITEE, role="member", invited_by=alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(charlie)

    page = client.get(f"/invitations/{raw}/")
    forged = client.post(f"/invitations/{raw}/")  # another site's form: no token

    assert "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "same-origin"
    assert forged.status_code == 403
    assert not Membership.objects.filter(user=charlie, organization=acme).exists()


def api_call(client: Client, method: str, path: str, token: str, body: object = None) -> Any:
    return getattr(client, method)(
        f"/api/v1/{path}",
        body if body is not None else {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_the_api_lists_members_invites_and_revokes(
    client: Client, acme: Organization, bob: User, acme_token: str, umbrella_token: str,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    members = api_call(client, "get", "members", acme_token).json()
    with django_capture_on_commit_callbacks(execute=True):
        created = api_call(client, "post", "invitations", acme_token, {"email": INVITEE})
    again = api_call(client, "post", "invitations", acme_token, {"email": INVITEE})
    bad = api_call(
        client, "post", "invitations", acme_token, {"email": "x@y.example", "role": "owner"}
    )
    listed = api_call(client, "get", "invitations", acme_token).json()
    invitation_id = created.json()["id"]
    outsider = api_call(client, "delete", f"invitations/{invitation_id}", umbrella_token)
    revoked = api_call(client, "delete", f"invitations/{invitation_id}", acme_token)

    assert [(m["username"], m["role"]) for m in members["results"]] == [
        ("alice", "owner"),
        ("bob", "member"),
    ]
    assert created.status_code == 201
    assert (created.json()["email"], created.json()["role"]) == (INVITEE, "member")
    assert mail.outbox[-1].to == [INVITEE]
    assert (again.status_code, again.json()["code"]) == (409, "already_invited")
    assert bad.status_code == 400
    assert [i["email"] for i in listed["results"]] == [INVITEE]
    assert outsider.status_code == 404
    assert revoked.status_code == 204
    assert not Invitation.objects.pending().exists()


def test_joining_and_removal_are_webhooks_to_the_organizations_endpoints(
    client: Client, acme: Organization, alice: User, charlie: User
) -> None:
    WebhookEndpoint.objects.create(organization=acme, url="https://hooks.example/in")
    invitation, _ = invitation_create(
        organization=acme, email=INVITEE, role="admin", invited_by=alice
    )

    membership = invitation_accept(invitation=invitation, user=charlie)
    client.force_login(alice)
    client.post(f"/settings/members/{membership.pk}/remove/")

    joined, removed = WebhookMessage.objects.order_by("created_at")
    assert joined.type == "member.joined"
    assert joined.payload["data"] == {"member": {"username": "charlie", "role": "admin"}}
    assert removed.type == "member.removed"
    assert removed.payload["data"]["member"]["username"] == "charlie"
    assert joined.deliveries.count() == 1
