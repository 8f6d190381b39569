"""bench/sync.py runs end to end on a tiny zone and prints every figure (timings unchecked)."""

from __future__ import annotations

import re

from tests.bench.helpers import run_bench


def test_the_sync_benchmark_runs_and_prints_its_figures() -> None:
    out = run_bench("sync.py", "--sizes", "60")
    lines = [line for line in out.splitlines() if line.startswith(("cycle", "again"))]
    assert len(lines) == 2
    for line in lines:
        assert re.search(r"calls\s+2 \(per-domain GETs:\s+60", line), line
        assert re.search(r"full listing: 2\)", line), line
        for figure in ("SQL", "ours", "simulator", "our CPU", "peak RSS"):
            assert figure in line
