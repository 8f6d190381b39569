from __future__ import annotations

from django.http import HttpRequest

from accounts.access import current_membership
from accounts.models import Membership


def organizations(request: HttpRequest) -> dict[str, object]:
    """The organization switcher in the header: the current and every other membership."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def all_memberships() -> list[Membership]:
        return list(Membership.objects.select_related("organization").filter(user=user))

    return {
        "all_memberships": all_memberships,
        "current_membership": lambda: current_membership(request),
    }
