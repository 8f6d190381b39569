from __future__ import annotations

from django.http import HttpRequest

from accounts.access import current_membership, user_memberships


def organizations(request: HttpRequest) -> dict[str, object]:
    """The organization switcher in the header: the current and every other membership."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "all_memberships": lambda: user_memberships(request),
        "current_membership": lambda: current_membership(request),
    }
