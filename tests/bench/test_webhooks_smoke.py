"""bench/webhooks.py runs end to end on a small backlog and prints its figures (timings
unchecked), in the layout production has: the database on a core of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bench.helpers import run_bench

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
LAYOUT = ["--database-core"] if CORES >= 2 else []


def _affinities(name: str) -> dict[int, set[int]]:
    """The CPU affinity of this machine's processes named `name`, by process id."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            if text[text.index("(") + 1 : text.rindex(")")] == name:
                found[int(stat.parent.name)] = os.sched_getaffinity(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # ended since listed
    return found


def test_the_webhooks_benchmark_delivers_a_small_backlog_and_prints_where_the_cpu_went() -> None:
    out = run_bench("webhooks.py", "--events", "40", "--timeout", "0.5", *LAYOUT)
    assert "delivered 360 of 360 to the live endpoints" in out
    assert "the database: inside the workers (SQLite)" in out
    assert "backlog 40 events x 9 live endpoints (sqlite, no Redis)" in out
    if LAYOUT:
        assert "no server (SQLite: none to move)" in out


@pytest.mark.skipif(CORES < 2, reason="a core of its own for the database needs two cores")
def test_on_a_local_postgresql_the_server_gets_a_core_of_its_own_and_gets_it_back(
    bench_database_url: str,
) -> None:
    if not bench_database_url:
        pytest.skip("PostgreSQL only: set DATABASE_URL to a local server")
    before = _affinities("postgres")
    out = run_bench(
        "webhooks.py",
        "--events",
        "40",
        "--timeout",
        "0.5",
        "--database-core",
        env={"DATABASE_URL": bench_database_url},
    )
    assert f"postgres on core {max(os.sched_getaffinity(0))} alone" in out
    assert "delivered 360 of 360 to the live endpoints" in out
    assert "the database server " in out
    after = _affinities("postgres")
    # Every server process that was there before is back on the cores it had.
    assert {pid: after[pid] for pid in before if pid in after} == {
        pid: cores for pid, cores in before.items() if pid in after
    }
