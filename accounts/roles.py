"""Who can do what in an organization, written down once: every view that changes something
asks this table (`Membership.can`, the `requires` decorator), the pages ask it to hide what a
role cannot do (`can` in every template), and the organization page shows it.

API tokens belong to the organization, not to a person: they are limited by their scope (read
or write, `accounts.authentication.HasApiToken`), not by this table.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied

from accounts.models import Membership, Role


class Action(StrEnum):
    VIEW = "view"  # domains, origins, webhooks, tokens (never a secret), the history
    CHANGE_DOMAINS = "change_domains"  # add, remove, Check now, choose a domain's origin
    HANDOFF_LINKS = "handoff_links"  # make and revoke links for whoever manages DNS
    MANAGE_ORIGINS = "manage_origins"
    MANAGE_WEBHOOKS = "manage_webhooks"
    MANAGE_TOKENS = "manage_tokens"
    BILLING = "billing"  # see the plan and invoices, subscribe, change or cancel
    ORGANIZATION_SETTINGS = "organization_settings"  # name and branding
    MEMBERS = "members"  # invite, change roles (never to or from owner), remove
    TRANSFER_OWNERSHIP = "transfer_ownership"  # make another member owner, or an owner admin
    AUDIT_LOG = "audit_log"  # read and export who did what
    DELETE_ORGANIZATION = "delete_organization"  # offboard everything, cancel the plan, go


# What each action is, in words, for the page that shows the table.
ACTION_NAMES = {
    Action.VIEW: "See domains, origins, webhooks and tokens",
    Action.CHANGE_DOMAINS: "Add and remove domains, Check now, choose a domain's origin",
    Action.HANDOFF_LINKS: "Send hand-off links to whoever manages DNS",
    Action.MANAGE_ORIGINS: "Add, change and remove origins",
    Action.MANAGE_WEBHOOKS: "Add, change and remove webhook endpoints",
    Action.MANAGE_TOKENS: "Create and revoke API tokens",
    Action.BILLING: "Open billing: subscribe, change or cancel the plan",
    Action.ORGANIZATION_SETTINGS: "Change the organization's name and branding",
    Action.MEMBERS: "Invite people, change members' roles, remove members",
    Action.TRANSFER_OWNERSHIP: "Make a member an owner, or an owner an admin",
    Action.AUDIT_LOG: "Read and export the audit log",
    Action.DELETE_ORGANIZATION: "Delete the organization",
}

EVERYONE = frozenset({Action.VIEW, Action.CHANGE_DOMAINS, Action.HANDOFF_LINKS})
PERMISSIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action) - {Action.TRANSFER_OWNERSHIP, Action.DELETE_ORGANIZATION},
    Role.MEMBER: EVERYONE,
}
# Who may, in words, for the refusals (`PermissionDenied` messages).
_WHO: dict[frozenset[str], str] = {
    frozenset({Role.OWNER.value, Role.ADMIN.value}): "owners and admins",
    frozenset({Role.OWNER.value}): "owners",
}


def allowed(role: str, action: Action) -> bool:
    return action in PERMISSIONS.get(role, frozenset())


def who_may(action: Action) -> str:
    roles = frozenset(str(role) for role, actions in PERMISSIONS.items() if action in actions)
    return _WHO.get(roles, "members")


def refusal(action: Action) -> str:
    """The sentence a refused person reads."""
    return f"Only {who_may(action)} can do this: {ACTION_NAMES[action].lower()}."


def ensure(membership: Membership, action: Action) -> None:
    """Raise PermissionDenied (403, with the sentence) unless the member's role may."""
    if not allowed(membership.role, action):
        raise PermissionDenied(refusal(action))


def abilities(membership: Membership | None) -> dict[str, bool]:
    """What the member may do, by action name: `can` in every template."""
    role = membership.role if membership is not None else ""
    return {str(action): allowed(role, action) for action in Action}


def table() -> list[dict[str, object]]:
    """The table as the page shows it: each action with a yes/no per role."""
    return [
        {"action": ACTION_NAMES[action], "roles": [allowed(role, action) for role in Role]}
        for action in Action
    ]
