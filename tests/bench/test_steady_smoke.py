"""bench/steady.py runs end to end on a small zone and prints every figure (calls unchecked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_steady_state_benchmark_runs_and_prints_its_figures() -> None:
    # Its own temporary SQLite file: never the database DATABASE_URL names.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "bench/steady.py", "--domains", "300", "--hours", "0.25"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"3 domains added, 3 of them active by the end", out), out
    assert re.search(r"six-hour check of every active domain [1-9]", out), out
    assert re.search(r"hints [1-9]", out), out
    assert re.search(r"% of the bulk budget", out), out
