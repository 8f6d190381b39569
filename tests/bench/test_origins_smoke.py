"""bench/origins.py runs end to end on a few hostnames and prints its figures (timings
unchecked; the calls and the rate limit are)."""

from __future__ import annotations

from tests.bench.helpers import run_bench


def test_the_origins_benchmark_runs_and_prints_its_figures() -> None:
    out = run_bench("origins.py", "--hostnames", "30", env={"CLOUDFLARE_RATE_WINDOW": "2"})
    assert "serving 30 hostnames: Cloudflare calls 1 ({'PATCH dns_records': 1})" in out
    assert "move 30 hostnames to another origin: PATCH calls 30 (1.00 a hostname)" in out
    assert "Cloudflare 429s: 0; hostnames now on the second origin: 30" in out
    assert "a person's calls meanwhile" in out
