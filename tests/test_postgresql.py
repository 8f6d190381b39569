"""The PostgreSQL backend reads timestamps with psycopg's C loader and gets Django's values."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from hypothesis import given
from hypothesis import strategies as st
from psycopg import adapt, postgres
from psycopg.abc import Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

from dcvaas.postgresql.base import _FAST, DatabaseWrapper, UtcTimestamptzLoader

OID = postgres.types["timestamptz"].oid
moments = st.datetimes(timezones=st.just(dt.UTC))  # years 1 to 9999, as both can hold


def _as_postgres_prints(moment: dt.datetime) -> bytes:
    """The text PostgreSQL sends for a timestamptz in a UTC session with DateStyle ISO."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return f"{moment.year:04d}{text[text.index('-') :]}+00".encode()


def _djangos_loader() -> Loader:
    context = adapt.AdaptersMap(postgres.adapters)
    register_tzloader(dt.UTC, context)
    loader_class = context.get_loader(OID, Format.TEXT)
    assert loader_class is not None
    return loader_class(OID, None)


def test_the_loader_it_delegates_to_is_psycopgs_c_one() -> None:
    assert _FAST is not TimestamptzLoader
    assert _FAST.__module__.startswith("psycopg_binary")


@given(moments)
def test_every_timestamp_loads_as_djangos_own_loader_loads_it(moment: dt.datetime) -> None:
    text = _as_postgres_prints(moment)

    ours = UtcTimestamptzLoader(OID, None).load(text)

    assert ours == _djangos_loader().load(text) == moment
    assert ours.tzinfo is dt.UTC


def test_a_database_in_another_time_zone_keeps_djangos_loader() -> None:
    settings_dict = {**connection.settings_dict, "TIME_ZONE": "Europe/Paris"}
    settings_dict.setdefault("OPTIONS", {})

    params = DatabaseWrapper(settings_dict).get_connection_params()

    assert params["context"].get_loader(OID, Format.TEXT) is not UtcTimestamptzLoader


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a PostgreSQL connection's loaders; CI sets DATABASE_URL and runs this",
)


@postgresql_only
@pytest.mark.django_db
@given(st.lists(moments, min_size=1, max_size=20))
def test_timestamps_read_through_django_come_back_equal_and_in_utc(
    values: list[dt.datetime],
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::timestamptz[])", [values])
        loaded = [row[0] for row in cursor.fetchall()]
        loader = cursor.cursor.adapters.get_loader(OID, Format.TEXT)

    assert loaded == values
    assert {value.tzinfo for value in loaded} == {dt.UTC}
    assert loader is UtcTimestamptzLoader
