"""Who can do what, written down once (accounts/roles.py): every role × every action, through
the pages themselves: allowed, or 403 with the sentence, and the page hides what a role may
not do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import Membership, Organization, Role, User
from accounts.roles import PERMISSIONS, Action, allowed, refusal
from domains.models import Domain
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

# One request per action that the action governs: (method, path, form); `{domain}` is filled in.
REQUESTS: dict[Action, tuple[str, str, dict[str, str]]] = {
    Action.VIEW: ("get", "/dashboard/", {}),
    Action.CHANGE_DOMAINS: ("post", "/domains/{domain}/check/", {}),
    Action.HANDOFF_LINKS: ("post", "/domains/{domain}/handoffs/", {}),
    Action.MANAGE_ORIGINS: ("post", "/origins/", {"name": "x", "address": "a.origin-app.dev"}),
    Action.MANAGE_WEBHOOKS: ("post", "/webhooks/", {"url": "https://hooks.tenant-app.dev/in"}),
    Action.MANAGE_TOKENS: ("post", "/tokens/", {"name": "ci", "once": "k"}),
    Action.BILLING: ("get", "/billing/", {}),
    Action.ORGANIZATION_SETTINGS: ("post", "/organization/", {"name": "Acme"}),
    Action.MEMBERS: ("post", "/settings/members/invite/", {"email": "new@x.example"}),
    Action.TRANSFER_OWNERSHIP: ("post", "/settings/members/{owner}/make-owner/", {}),
    Action.AUDIT_LOG: ("get", "/settings/audit/", {}),
    # A mistyped name: an owner is told so (400), nothing is deleted by the matrix.
    Action.DELETE_ORGANIZATION: ("post", "/organization/delete/", {"confirm_name": "Not it"}),
}
# Where a page shows the control for an action (hidden from a role that may not).
CONTROLS: dict[Action, tuple[str, str]] = {
    Action.MANAGE_ORIGINS: ("/origins/", 'name="address"'),
    Action.MANAGE_WEBHOOKS: ("/webhooks/", 'name="url"'),
    Action.MANAGE_TOKENS: ("/tokens/", "Create token"),
    Action.BILLING: ("/dashboard/", 'href="/billing/"'),
    Action.ORGANIZATION_SETTINGS: ("/organization/", 'data-testid="organization-form"'),
    Action.MEMBERS: ("/settings/members/", 'data-testid="invite-form"'),
    Action.TRANSFER_OWNERSHIP: ("/settings/members/", 'data-testid="make-owner"'),
    Action.AUDIT_LOG: ("/dashboard/", 'data-testid="audit-link"'),
    Action.DELETE_ORGANIZATION: ("/organization/", 'data-testid="delete-organization"'),
}


def test_every_action_has_a_request_in_the_matrix_and_every_role_a_row() -> None:
    assert set(REQUESTS) == set(Action)
    assert set(PERMISSIONS) == set(Role)
    assert PERMISSIONS[Role.OWNER] == frozenset(Action)


@pytest.fixture
def as_role(
    client: Client, acme: Organization, bob: User, cloudflare_sim: CloudflareSandbox
) -> Callable[[str], tuple[Client, Domain]]:
    domain = domain_register(organization=acme, hostname="app.acme.test-customer.dev").domain
    # A third person, a plain member: the one the others' controls act on.
    MembershipFactory(user=UserFactory(username="erin"), organization=acme, role=Role.MEMBER)

    def sign_in(role: str) -> tuple[Client, Domain]:
        Membership.objects.filter(user=bob, organization=acme).update(role=role)
        client.force_login(bob)
        return client, domain

    return sign_in


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_exactly_what_the_table_says(
    as_role: Callable[[str], tuple[Client, Domain]], role: str, action: Action, settings: Any
) -> None:
    client, domain = as_role(role)
    method, path, form = REQUESTS[action]

    owner = Membership.objects.get(
        organization=domain.organization, role=Role.OWNER, user__username="alice"
    )
    response = getattr(client, method)(path.format(domain=domain.pk, owner=owner.pk), form)

    if allowed(role, action):
        assert response.status_code != 403, response.content.decode()[:300]
    else:
        assert response.status_code == 403
        assert refusal(action) in response.content.decode().replace("&#x27;", "'")


@pytest.mark.parametrize("action", list(CONTROLS))
@pytest.mark.parametrize("role", list(Role))
def test_a_page_hides_the_controls_a_role_may_not_use(
    as_role: Callable[[str], tuple[Client, Domain]], role: str, action: Action
) -> None:
    client, _ = as_role(role)
    path, control = CONTROLS[action]

    response = client.get(path)

    if response.status_code == 403:  # the page itself is the action (billing)
        assert not allowed(role, action)
        return
    assert (control in response.content.decode()) == allowed(role, action)


def test_the_organization_page_shows_the_table(
    as_role: Callable[[str], tuple[Client, Domain]],
) -> None:
    client, _ = as_role(Role.MEMBER)

    page = client.get("/organization/").content.decode()

    assert 'data-testid="role-table"' in page
    assert "Create and revoke API tokens" in page
