from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.access import current_membership, user_memberships
from accounts.roles import abilities


def organizations(request: HttpRequest) -> dict[str, object]:
    """The organization switcher in the header: the current and every other membership."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "all_memberships": lambda: user_memberships(request),
        "current_membership": lambda: current_membership(request),
        # What the current member's role may do (accounts/roles.py): pages hide the rest.
        "can": SimpleLazyObject(lambda: abilities(current_membership(request))),
    }
