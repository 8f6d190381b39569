"""bench/web.py --smoke runs end to end (gunicorn, seeding, load) and prints every figure.

No timing is asserted: the figures depend on the machine. With DATABASE_URL on PostgreSQL the
run uses a database of its own next to it (created by the benchmark, dropped here after).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ENDPOINTS = (
    "dashboard list",
    "domain page",
    "status fragment",
    "GET /api/v1/domains",
    "GET /api/v1/domains/{id}",
)
ADMIN_ENDPOINTS = ("admin: domains", "admin: domains, filtered", "admin: events")
NUMBER = r"\d+\.\d+"


def test_the_smoke_run_prints_every_figure_for_every_endpoint_and_size(
    bench_database_url: str,
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environment.pop("DATABASE_URL", None)
    if bench_database_url:
        environment["DATABASE_URL"] = bench_database_url

    result = subprocess.run(
        [sys.executable, "bench/web.py", "--smoke"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert re.search(
        rf"^hello \(reference\) +- +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +0 ", output, re.M
    )
    rows = [(endpoint, size) for endpoint in ENDPOINTS for size in ("5 domains", "60 domains")]
    rows += [(endpoint, "all 65") for endpoint in ADMIN_ENDPOINTS]
    for endpoint, size in rows:
        # req/s, p50, p99, the time in Django, a query count, and no errors.
        row = rf"^{re.escape(endpoint)} +{size} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +\d+ +-$"
        assert re.search(row, output, re.M), f"no figures for {endpoint} at {size}:\n{output}"
    for endpoint in ENDPOINTS:
        assert re.search(
            rf"^PASS {re.escape(endpoint)}: \d+ queries at 5 domains, \d+ at 60 domains",
            output,
            re.M,
        ), output
