"""The authentication backend: allauth's, loading a signed-in user with their memberships.

Every signed-in page needs the user (for the session) and their memberships (for the current
organization and the header's switcher). Django's backend loads the user by id and the page
then asks for the memberships: two queries. Here both come from one ORM query over the
membership table; a user with no membership yet (staff made with `createsuperuser`) is loaded
the usual way.
"""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.db.models import QuerySet

from accounts.models import Membership, User

MEMBERSHIPS_ATTRIBUTE = "_dcvaas_memberships"


def memberships_of(user_id: Any) -> QuerySet[Membership]:
    """A user's memberships, oldest first, with the user and the organization."""
    return (
        Membership.objects.select_related("user", "organization")
        .filter(user_id=user_id)
        .order_by("created_at", "pk")
    )


def load_memberships(user_id: Any) -> list[Membership]:
    """`memberships_of(user_id)`, loaded, sharing one user object between the rows."""
    memberships = list(memberships_of(user_id))
    for membership in memberships[1:]:
        membership.user = memberships[0].user
    return memberships


class AuthenticationBackend(AllauthBackend):
    def get_user(self, user_id: Any) -> User | None:
        memberships = load_memberships(user_id)
        if not memberships:
            return super().get_user(user_id)
        user = memberships[0].user
        if not self.user_can_authenticate(user):
            return None
        setattr(user, MEMBERSHIPS_ATTRIBUTE, memberships)
        return user
