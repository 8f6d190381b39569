"""Benchmark of one sync cycle over 1,000 and then 10,000 domains (prints figures; not a test).

    python bench/sync.py            # a fresh SQLite file in a temporary folder
    DATABASE_URL=postgres://... python bench/sync.py   # that (empty, migrated here) database

Starts the Cloudflare simulator in this process, registers the domains there over loopback
HTTP (half of them with their CNAME in place, so they are active; the rest pending), writes
their rows as a previous cycle would have left them, makes them all due, and runs one full
cycle (`domains.sync.run_cycle`, as `manage.py sync_domains` does). For each size it prints
Cloudflare calls made, calls a one-GET-per-domain strategy would have made, wall time, SQL
queries, and the peak Python memory of the cycle (tracemalloc); after the 10,000-domain cycle,
the process's resident memory. A second cycle in which nothing changed shows the query count
staying flat as unchanged domains multiply.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import setup_env  # noqa: E402 - before anything that imports Django

# The cycles measure our own code, not the budget: a 50,000-domain zone's listing needs 1,000
# calls, the bulk share of Cloudflare's whole window, and the smaller sizes' cycles spend from
# the same window. Calls are printed against the alternatives instead.
WORKDIR = setup_env.configure("sync", CLOUDFLARE_RATE_LIMIT="1000000")

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Organization  # noqa: E402
from domains import sync  # noqa: E402
from domains.cloudflare import MAX_PER_PAGE, parse_hostname  # noqa: E402
from domains.models import Domain, DomainStatus, SyncRun  # noqa: E402
from domains.services import records_for, remote_fields  # noqa: E402
from domains.sync import REMOTE_FIELDS  # noqa: E402
from sandbox.cloudflare import CloudflareSandbox  # noqa: E402

SIZES = (1_000, 10_000)


def rss_mib() -> float:
    """Resident memory of this process, from /proc (Linux), else the peak from getrusage."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedSimulator(CloudflareSandbox):
    """The simulator, adding up the time it spends answering (Cloudflare's side of the wall
    time: the simulator re-evaluates every hostname of the zone on each request)."""

    answering = 0.0

    def handle(self, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().handle(request)
        finally:
            TimedSimulator.answering += time.perf_counter() - started


def grow_zone(sim: CloudflareSandbox, organization: Organization, total: int) -> None:
    """Register hostnames until the zone holds `total`; every other one gets its CNAME."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    url = f"{sim.base_url}/zones/{sim.zone_id}/custom_hostnames"
    start = Domain.objects.count()
    rows = []
    for n in range(start, total):
        hostname = f"shop{n}.bench-customer.dev"
        response = session.post(url, json={"hostname": hostname}, timeout=10)
        response.raise_for_status()
        remote = parse_hostname(response.json()["result"])
        active = n % 2 == 0
        if active:
            sim.set_cname(hostname, True)
        rows.append(
            Domain(
                organization=organization,
                hostname=hostname,
                status=DomainStatus.PENDING,
                cloudflare_id=remote.id,
                cloudflare_status=remote.status,
                ssl_status=remote.ssl_status,
                dns_records=records_for(hostname, remote),
            )
        )
    Domain.objects.bulk_create(rows, batch_size=500)
    # The state a previous cycle left: what Cloudflare says now, for every new domain.
    by_id = {item["id"]: parse_hostname(item) for item in sim.hostnames()}
    now = timezone.now()
    synced = []
    for domain in Domain.objects.filter(last_synced_at=None):
        for name, value in remote_fields(domain, by_id[domain.cloudflare_id], now).items():
            setattr(domain, name, value)
        domain.last_synced_at = now
        synced.append(domain)
    Domain.objects.bulk_update(synced, [*REMOTE_FIELDS, "last_synced_at"], batch_size=500)
    # Since then, 5% of the pending domains' customers created their CNAME: real changes.
    pending = Domain.objects.filter(status=DomainStatus.PENDING).values_list("hostname", flat=True)
    for hostname in list(pending)[: (total - start) // 20]:
        sim.set_cname(hostname, True)


def cycle(label: str) -> SyncRun:
    Domain.objects.update(next_sync_at=timezone.now())
    tracemalloc.start()
    TimedSimulator.answering = 0.0
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        run = sync.run_cycle(trigger="bench")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    zone = Domain.objects.exclude(cloudflare_id="").count()
    goal = min(run.due, math.ceil(zone / MAX_PER_PAGE))
    print(
        f"{label:<34} due {run.due:>6}  strategy {run.strategy:<4}  "
        f"calls {run.cloudflare_calls:>5} (per-domain GETs: {run.due:>6}; "
        f"goal <= {goal} + c)  changed {run.changed:>6}  SQL {len(queries):>4}  "
        f"time {elapsed:6.2f}s (simulator {TimedSimulator.answering:6.2f}s)  "
        f"peak {peak / 2**20:6.1f} MiB"
        + ("  (budget spent: stopped early)" if run.budget_exhausted else "")
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="comma-separated zone sizes to run a cycle over (default: %(default)s)",
    )
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]
    if "DATABASE_URL" not in os.environ:
        print(f"SQLite file: {settings.DATABASES['default']['NAME']}")
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # the cache is a table without REDIS_URL
    sim = setup_env.start_simulator(TimedSimulator)
    organization, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    Domain.objects.all().delete()
    for size in sizes:
        started = time.perf_counter()
        grow_zone(sim, organization, size)
        print(f"\n{size:,} domains registered in {time.perf_counter() - started:.1f}s")
        cycle(f"cycle over {size:,} (half active)")
        cycle(f"again, nothing changed ({size:,})")
    print(f"\nresident memory after the {sizes[-1]:,}-domain cycles: {rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
