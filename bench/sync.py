"""Benchmark of one sync cycle over 1,000 and then 10,000 domains (prints figures; not a test).

    python bench/sync.py            # a fresh SQLite file in a temporary folder
    DATABASE_URL=postgres://... python bench/sync.py   # that (empty, migrated here) database

Starts the Cloudflare simulator in a process of its own (`simproc.py`), registers the domains
there over loopback HTTP (half of them with their CNAME in place, so they are active; the rest
pending), writes their rows as a previous cycle would have left them, makes them all due, and
runs one full cycle (`domains.sync.run_cycle`, as `manage.py sync_domains` does) in a fresh
child process, as a worker would. For each size it prints Cloudflare calls made against a
one-GET-per-domain strategy and a full listing of the zone, the wall time split into ours and
the simulator's (the time it spent answering), our CPU time, SQL statements, and the cycle
process's peak resident memory. A second cycle in which nothing changed shows the query count
staying flat as unchanged domains multiply.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from datetime import timedelta
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
from simproc import SimulatorProcess, TimedSimulatorMixin  # noqa: E402

from accounts.models import Organization  # noqa: E402
from domains import sync  # noqa: E402
from domains.cloudflare import MAX_PER_PAGE, parse_hostname  # noqa: E402
from domains.models import Domain, DomainStatus  # noqa: E402
from domains.services import records_for, remote_field_names, remote_fields  # noqa: E402
from sandbox.cloudflare import CloudflareSandbox  # noqa: E402

SIZES = (1_000, 10_000)


def memory_mib(field: str) -> float:
    """A memory figure of this process from /proc (Linux: VmRSS now, VmHWM its peak), else
    the peak resident memory from getrusage."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedSimulator(TimedSimulatorMixin, CloudflareSandbox):
    """The simulator, adding up the time it spends answering."""


def grow_zone(
    sim: SimulatorProcess,
    organization: Organization,
    total: int,
    *,
    active_every: int = 2,
    changes: int | None = None,
) -> None:
    """Register hostnames until the zone holds `total`; all but one in `active_every` get
    their CNAME (2: every other one), then `changes` (default: a tenth of the zone) of the
    pending ones get theirs after the last cycle saw them."""
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
        active = n % active_every != 1
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
    Domain.objects.bulk_update(synced, [*remote_field_names(), "last_synced_at"], batch_size=500)
    # Since then, customers of pending domains created their CNAME: 10% of the zone changes.
    pending = Domain.objects.filter(status=DomainStatus.PENDING).values_list("hostname", flat=True)
    for hostname in list(pending)[: total // 10 if changes is None else changes]:
        sim.set_cname(hostname, True)


def measure_cycle(profile: str = "") -> dict[str, Any]:
    """One cycle in this (fresh) process, as a worker runs it: its figures."""
    import cProfile

    profiler = cProfile.Profile() if profile else None
    baseline = memory_mib("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as queries:
        if profiler is not None:
            profiler.enable()
        run = sync.run_cycle(trigger="bench")
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    return {
        "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "sql": len(queries),
        "baseline_rss": baseline,
        "peak_rss": memory_mib("VmHWM"),
        "due": run.due,
        "claimed": run.claimed,
        "strategy": run.strategy,
        "calls": run.cloudflare_calls,
        "changed": run.changed,
        "budget_exhausted": run.budget_exhausted,
    }


def cycle(
    sim: SimulatorProcess, label: str, profile: str = "", *, only_pending: bool = False
) -> dict[str, Any]:
    """Make every domain (or every pending one) due and run one cycle in a child process (a
    worker's footprint, not this one's: the set-up's rows and imports stay here)."""
    if only_pending:
        Domain.objects.update(next_sync_at=timezone.now() + timedelta(hours=1))
        Domain.objects.filter(status=DomainStatus.PENDING).update(next_sync_at=timezone.now())
    else:
        Domain.objects.update(next_sync_at=timezone.now())
    zone = Domain.objects.exclude(cloudflare_id="").count()
    connection.close()
    answering = sim.answering_seconds()
    result = subprocess.run(
        [sys.executable, __file__, "--measure-cycle", *(["--profile", profile] if profile else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    simulator = sim.answering_seconds() - answering
    pages = math.ceil(zone / MAX_PER_PAGE)
    print(
        f"{label:<34} due {figures['due']:>6}  claimed {figures['claimed']:>6}  "
        f"strategy {figures['strategy']:<4}  calls {figures['calls']:>5} "
        f"(per-domain GETs: {figures['claimed']:>6}; full listing: {pages})  "
        f"changed {figures['changed']:>5}  SQL {figures['sql']:>4}  "
        f"time {figures['wall']:6.2f}s = ours {figures['wall'] - simulator:6.2f}s "
        f"+ simulator {simulator:5.2f}s (our CPU {figures['cpu']:6.2f}s)  "
        f"peak RSS {figures['peak_rss']:5.0f} MiB (at start {figures['baseline_rss']:.0f})"
        + ("  (budget spent: stopped early)" if figures["budget_exhausted"] else "")
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="comma-separated zone sizes to run a cycle over (default: %(default)s)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="write the cProfile statistics of the first cycle of each size to FILE.SIZE",
        metavar="FILE",
    )
    parser.add_argument(
        "--mass-change",
        type=int,
        default=0,
        metavar="SIZE",
        help="only this: a zone of SIZE, 90%% active and not due, the pending 10%% due and "
        "all of them turned active at Cloudflare since the last cycle",
    )
    parser.add_argument("--measure-cycle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_cycle:
        print(json.dumps(measure_cycle(args.profile)))
        return
    sizes = [int(n) for n in args.sizes.split(",")]
    if "DATABASE_URL" not in os.environ:
        print(f"SQLite file: {settings.DATABASES['default']['NAME']}")
    sim = SimulatorProcess.start(TimedSimulator)  # forked before any database connection
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # the cache is a table without REDIS_URL
    organization, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    Domain.objects.all().delete()
    if args.mass_change:
        size = args.mass_change
        started = time.perf_counter()
        grow_zone(sim, organization, size, active_every=10, changes=size)
        print(f"\n{size:,} domains registered in {time.perf_counter() - started:.1f}s")
        cycle(sim, f"every due domain changed ({size:,})", only_pending=True)
        return
    for size in sizes:
        started = time.perf_counter()
        grow_zone(sim, organization, size)
        print(f"\n{size:,} domains registered in {time.perf_counter() - started:.1f}s")
        profile = f"{args.profile}.{size}" if args.profile else ""
        cycle(sim, f"cycle over {size:,} (half active)", profile)
        cycle(sim, f"again, nothing changed ({size:,})")


if __name__ == "__main__":
    main()
