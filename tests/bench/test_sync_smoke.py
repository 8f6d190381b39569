"""bench/sync.py runs end to end on a tiny zone and prints every figure (timings unchecked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sync_benchmark_runs_and_prints_its_figures() -> None:
    # Its own temporary SQLite file: never the database DATABASE_URL names.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "bench/sync.py", "--sizes", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("cycle", "again"))]
    assert len(lines) == 2
    for line in lines:
        assert re.search(r"calls\s+2 \(per-domain GETs:\s+60", line), line
        assert re.search(r"full listing: 2\)", line), line
        for figure in ("SQL", "ours", "simulator", "our CPU", "peak RSS"):
            assert figure in line
