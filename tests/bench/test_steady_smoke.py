"""bench/steady.py runs end to end on a small zone and prints every figure (calls unchecked)."""

from __future__ import annotations

import re

import pytest

from tests.bench.helpers import run_bench


def test_the_steady_state_benchmark_runs_and_prints_its_figures() -> None:
    out = run_bench("steady.py", "--domains", "1200", "--hours", "0.25")
    assert re.search(r"3 domains added, 3 of them active by the end", out), out
    assert re.search(r"shared check of every active domain [1-9]", out), out
    assert re.search(r"hints [1-9]", out), out
    assert re.search(r"% of the bulk budget", out), out
    assert re.search(r"our CPU per window \(s\): \[\d", out), out
    assert re.search(r"SQL statements per window: \[\d", out), out
    assert re.search(r"peak resident memory of the hour: \d+ MiB", out), out


def test_on_postgresql_it_prints_the_database_servers_cpu_too(bench_database_url: str) -> None:
    if not bench_database_url:
        pytest.skip("the database server's CPU is PostgreSQL's; CI sets DATABASE_URL and runs this")
    out = run_bench(
        "steady.py",
        "--domains",
        "1200",
        "--hours",
        "0.25",
        env={"DATABASE_URL": bench_database_url},
    )
    assert re.search(r"3 domains added, 3 of them active by the end", out), out
    assert re.search(r"the database server's CPU per window \(s\): \[\d", out), out
