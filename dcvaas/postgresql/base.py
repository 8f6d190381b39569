"""Django's PostgreSQL backend, loading `timestamptz` values with psycopg's C loader.

Django registers its own `timestamptz` loader: a Python subclass of psycopg's that parses the
text, then sets the tzinfo. psycopg only swaps its own classes for their C versions, so every
datetime Django reads is parsed in Python, about 2.7 µs a value against 0.3 µs here. A list
of 50 domains reads about 200 of them: half a millisecond of each API list request.

The fast path is taken only where the two agree: `USE_TZ` on and the connection in UTC (what
Django sets up for it), where psycopg's loader returns the same aware datetimes in UTC.
Otherwise Django's loader stays. `tests/test_postgresql.py` holds the two equal.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from django.db.backends.postgresql import base
from psycopg import adapt, postgres
from psycopg.abc import AdaptContext, Buffer, Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

TIMESTAMPTZ = "timestamptz"


def _fastest_loader() -> type[Loader]:
    """psycopg's C `timestamptz` loader when its C module is installed, else its Python one."""
    probe = adapt.AdaptersMap(postgres.adapters)
    probe.register_loader(TIMESTAMPTZ, TimestamptzLoader)  # swapped for the C class if any
    return probe.get_loader(postgres.types[TIMESTAMPTZ].oid, Format.TEXT) or TimestamptzLoader


_FAST = _fastest_loader()


class UtcTimestamptzLoader(adapt.Loader):
    """Aware UTC datetimes from a UTC connection, parsed by `_FAST`.

    A delegate, not a subclass: the C class cannot be subclassed. `timezone` is what Django's
    `create_cursor` compares with the connection's before deciding to register its own loader.
    """

    timezone = dt.UTC

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._load = _FAST(oid, context).load

    def load(self, data: Buffer) -> dt.datetime:
        return self._load(data)


@lru_cache
def _adapters_template(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    adapters = adapt.AdaptersMap(template)
    adapters.register_loader(TIMESTAMPTZ, UtcTimestamptzLoader)
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if "context" in params and self.timezone == dt.UTC:
            params["context"] = _adapters_template(params["context"])
        return params
