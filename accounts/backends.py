"""The authentication backend: allauth's, loading a signed-in user with their memberships.

Every signed-in page needs the user (for the session) and their memberships (for the current
organization and the header's switcher). Django's backend loads the user by id and the page
then asks for the memberships: two queries on every request. Here both come from one query
over the membership table; a user with no membership yet (staff made with
`createsuperuser`) is loaded the usual way.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.db import connection
from django.db.models import Field, Model, QuerySet

from accounts.models import Membership, Organization, User

MEMBERSHIPS_ATTRIBUTE = "_dcvaas_memberships"


def memberships_of(user_id: Any) -> QuerySet[Membership]:
    """A user's memberships, oldest first, with the user and the organization.

    Not the subscription: joining it costs every signed-in request (the status fragment pages
    poll every few seconds) more than the one query it saves the dashboard.
    """
    return (
        Membership.objects.select_related("user", "organization")
        .filter(user_id=user_id)
        .order_by("created_at", "pk")
    )


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a concrete column, not a reverse relation
    return connection.ops.quote_name(str(field.column))


def _columns(model: type[Model], alias: str) -> list[str]:
    return [f"{alias}.{_column(model, field.name)}" for field in model._meta.concrete_fields]


@lru_cache(maxsize=1)
def _memberships_sql() -> str:
    """`memberships_of`'s query as SQL, written once. Building it through the ORM on every
    signed-in request cost more than running it: 0.15 to 0.3 ms of 0.6, a tenth of a page."""
    quote = connection.ops.quote_name
    columns = _columns(Membership, "m") + _columns(User, "u") + _columns(Organization, "o")
    tables = {model: quote(model._meta.db_table) for model in (Membership, User, Organization)}
    # Names from the models' metadata only; the user id is a parameter.
    return (
        f"SELECT {', '.join(columns)} FROM {tables[Membership]} m "  # noqa: S608
        f"JOIN {tables[User]} u ON u.{_column(User, 'id')} = m.{_column(Membership, 'user')} "
        f"JOIN {tables[Organization]} o "
        f"ON o.{_column(Organization, 'id')} = m.{_column(Membership, 'organization')} "
        f"WHERE m.{_column(Membership, 'user')} = %s "
        f"ORDER BY m.{_column(Membership, 'created_at')}, m.{_column(Membership, 'id')}"
    )


def load_memberships(user_id: Any) -> list[Membership]:
    """`memberships_of(user_id)`, loaded. On PostgreSQL from `_memberships_sql`: psycopg
    returns every one of these columns as the ORM would (none of the three models has a field
    that converts its database value), which `tests/accounts/test_backends.py` holds. Elsewhere
    (SQLite in development, which converts dates) through the ORM."""
    if connection.vendor != "postgresql":
        return list(memberships_of(user_id))
    with connection.cursor() as cursor:
        cursor.execute(_memberships_sql(), [user_id])
        rows = cursor.fetchall()
    names = [
        [field.attname for field in model._meta.concrete_fields]
        for model in (Membership, User, Organization)
    ]
    first, second = len(names[0]), len(names[0]) + len(names[1])
    memberships = []
    user: User | None = None
    for row in rows:
        membership = Membership.from_db(connection.alias, names[0], row[:first])
        user = user or User.from_db(connection.alias, names[1], row[first:second])
        membership.user = user  # one user object, not one copy per row
        membership.organization = Organization.from_db(connection.alias, names[2], row[second:])
        memberships.append(membership)
    return memberships


class AuthenticationBackend(AllauthBackend):
    def get_user(self, user_id: Any) -> User | None:
        memberships = load_memberships(user_id)
        if not memberships:
            return super().get_user(user_id)
        user = memberships[0].user
        if not self.user_can_authenticate(user):
            return None
        for membership in memberships:
            membership.user = user  # one user object, not one copy per row (the ORM's path)
        setattr(user, MEMBERSHIPS_ATTRIBUTE, memberships)
        return user
