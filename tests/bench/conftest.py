"""Fixtures of the benchmarks' smoke tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest


@pytest.fixture
def bench_database_url() -> Iterator[str]:
    """ "" for SQLite; else a throwaway PostgreSQL database on the test run's server."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield ""
        return
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'dcvaas'}_benchsmoke"
    yield parsed._replace(path=f"/{name}").geturl()
    maintenance = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
