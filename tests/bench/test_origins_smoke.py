"""bench/origins.py runs end to end on a few hostnames and prints its figures (timings
unchecked; the calls and the rate limit are)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_origins_benchmark_runs_and_prints_its_figures() -> None:
    # Its own temporary SQLite file: never the database DATABASE_URL names.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "bench/origins.py", "--hostnames", "30"],
        cwd=ROOT,
        env={**env, "CLOUDFLARE_RATE_WINDOW": "2"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "serving 30 hostnames: Cloudflare calls 1 ({'PATCH dns_records': 1})" in out
    assert "move 30 hostnames to another origin: PATCH calls 30 (1.00 a hostname)" in out
    assert "Cloudflare 429s: 0; hostnames now on the second origin: 30" in out
    assert "a person's calls meanwhile" in out
