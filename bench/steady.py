"""What a steady state costs: the Cloudflare calls, our CPU, SQL and memory of an hour of a
zone of 50,000 (or 1,000,000) domains, 1% of them changing an hour, push on (prints figures;
not a test).

    python bench/steady.py                          # 50,000 domains, one hour, SQLite
    python bench/steady.py --domains 1000000        # the step to a million hostnames
    python bench/steady.py --domains 5000 --no-push
    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/steady.py

The Cloudflare simulator runs in a process of its own (`simproc.py`, so its hostnames count in
neither our memory nor our CPU), on a clock this benchmark moves (a certificate takes 20 s to
issue and 10 s to deploy once validated). In this process: the app's receiver behind a WSGI
server on loopback (push on unless --no-push) and a simulated clock (time-machine) moved
--step seconds at a time. At each step the simulator applies what is due and sends its
notifications, the receiver records them, the hints due are acted on (what `process_hints`
does), and every SYNC_SCHEDULE_SECONDS a sync cycle runs (what beat and the workers do).

At the start every domain is active, 50 to an organization (the Agency plan's limit), and was
checked at its last shared check (the zone is seeded directly into the simulator's state and our
rows written as the sync loop leaves them; that part is not measured). Over the hour, --changes
percent of the zone in new domains is added at random moments (user calls, not counted as
background), and each one's customer creates the CNAME 1 to 10 minutes later. The hour is placed
so that the next shared check of every active domain (one listing of the zone) starts in its
middle; that check is measured there and counted at its real rate, once per
`sync.active_interval` of the zone (six hours, up to a day for a zone past ~360,000 hostnames; a
listing that runs past the hour is counted at its full size, a page per 50 domains).

Prints, per 5-minute window: the background calls (sync loop and hints) against the bulk
budget (CLOUDFLARE_RATE_LIMIT - CLOUDFLARE_RATE_RESERVED), our CPU (this process: the sync
loop, the hints and the receiver), the PostgreSQL server's CPU when it runs on this machine
(on SQLite that work is ours), SQL statements; then their peak and mean, the peak resident
memory of the hour, and what a GET per due domain would have spent.
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import setup_env  # noqa: E402 - before anything that imports Django

WORKDIR = setup_env.configure("steady", ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="ERROR")

import time_machine  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402
from simproc import SimulatorProcess, TimedSimulatorMixin  # noqa: E402

from accounts.models import Organization  # noqa: E402
from domains import sync  # noqa: E402
from domains.cloudflare import CloudflareClient, parse_hostname  # noqa: E402
from domains.models import CloudflareHint, Domain, DomainStatus, SyncRun  # noqa: E402
from domains.push import services as push  # noqa: E402
from domains.services import domain_register, records_for, remote_fields  # noqa: E402
from sandbox.cloudflare import CloudflareSandbox, Delays, ManualClock  # noqa: E402

SECRET = "bench-push-secret"  # noqa: S105 - the simulator's and the receiver's shared secret
WINDOW = 300  # seconds: Cloudflare's rate window
SEED_CHUNK = 20_000  # hostnames seeded (and rows written) at a time
TENANT_SIZE = 50  # domains an organization holds (the Agency plan's limit)


class SteadySimulator(TimedSimulatorMixin, CloudflareSandbox):
    """The simulator with the controls this benchmark calls through simproc's pipe."""

    def subscribe(self, url: str, secret: str) -> None:
        self.alerts.subscribe(url, secret)

    def use_clock(self, start: datetime) -> None:
        """A clock only this benchmark moves (no ticker thread moves the zone meanwhile)."""
        self.stop_clock()
        self.configure(clock=ManualClock(start))

    def step_to(self, moment: datetime) -> None:
        """Move the clock, apply what is due and send its notifications, wait until sent."""
        assert isinstance(self.clock, ManualClock)  # noqa: S101
        self.clock.now = moment
        self.tick()
        self.alerts.wait_idle(timeout=60)

    def request_count(self) -> int:
        return len(self.requests)

    def request_kinds(self, since: int) -> dict[str, int]:
        counted: Counter[str] = Counter()
        for request in self.requests[since:]:
            if request.path.endswith("/custom_hostnames") and request.method == "GET":
                counted["listing pages"] += 1
            elif "/custom_hostnames/" in request.path and request.method == "GET":
                counted["GETs"] += 1
            elif "/custom_hostnames" in request.path:
                counted[request.method] += 1
        return dict(counted)


class StatementCounter:
    """An `execute_wrapper` counting statements from every thread that runs it."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self.count += 1
        return execute(*args)

    def around(self, application: Callable[..., Any]) -> Callable[..., Any]:
        """The WSGI application with every statement of its requests counted."""

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with connection.execute_wrapper(self):
                return application(environ, start_response)

        return counted


def memory_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_memory() -> bool:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs), so the peak is the hour's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def seed_in_child(sim: Any, total: int) -> list[int]:
    """`seed_active` in a forked process, so that what the seeding allocated is not in this
    process's memory when the hour starts. Returns the organizations' primary keys."""
    connections.close_all()
    child = multiprocessing.get_context("fork").Process(target=seed_active, args=(sim, total))
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(f"seeding failed (exit code {child.exitcode})")
    tenants = Organization.objects.filter(slug__startswith="tenant-").order_by("pk")
    return list(tenants.values_list("pk", flat=True))


def seed_active(sim: Any, total: int) -> None:
    """`total` active domains, TENANT_SIZE to an organization: put into the simulator's state
    directly, in chunks, and their rows written as the sync loop leaves them."""
    now = datetime.now(UTC)
    Organization.objects.bulk_create(
        [
            Organization(name=f"Tenant {n}", slug=f"tenant-{n}")
            for n in range(math.ceil(total / TENANT_SIZE))
        ],
        batch_size=1000,
    )
    organizations = list(Organization.objects.filter(slug__startswith="tenant-").order_by("pk"))
    if connection.vendor == "sqlite":
        # Set-up only: a large page cache keeps the growing indexes' inserts from going to the
        # file one page at a time (a million rows: hours, not minutes). Put back below.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            (cache_size,) = cursor.fetchone()
            cursor.execute("PRAGMA cache_size = -1000000")
    for start in range(0, total, SEED_CHUNK):
        stop = min(total, start + SEED_CHUNK)
        names = [f"shop{n}.bench-customer.dev" for n in range(start, stop)]
        sim.add_active(names)
        rows = []
        for item in sim.hostnames(start, start + len(names)):
            remote = parse_hostname(item)
            tenant = organizations[len(rows) // TENANT_SIZE + start // TENANT_SIZE]
            domain = Domain(organization=tenant, hostname=remote.hostname, dns_records=[])
            for name, value in remote_fields(domain, remote, now).items():
                setattr(domain, name, value)
            domain.dns_records = records_for(domain.hostname, remote)
            domain.last_synced_at = now
            rows.append(domain)
        Domain.objects.bulk_create(rows, batch_size=1000)
        if stop % 100_000 == 0:
            print(f"  {stop:,} seeded", flush=True)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")
    assert not Domain.objects.exclude(status=DomainStatus.ACTIVE).exists()  # noqa: S101


def spread(values: Iterable[float]) -> str:
    values = list(values)
    if not values:
        return "no whole window"
    return f"peak {max(values):,.1f}, mean {sum(values) / len(values):,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--domains", type=int, default=50_000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--changes", type=float, default=1.0, help="%% of the zone added an hour")
    parser.add_argument("--step", type=float, default=5.0, help="simulated seconds per step")
    parser.add_argument("--no-push", action="store_true", help="no destination at Cloudflare")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # Forked before this process opens a database connection.
    sim = SimulatorProcess.start(SteadySimulator)
    if "DATABASE_URL" not in os.environ:
        print(f"SQLite file: {settings.DATABASES['default']['NAME']}")
    elif connection.vendor == "postgresql":
        setup_env.ensure_postgres_database(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    sim.configure(hard_cap=2 * args.domains + 1000)
    settings.CLOUDFLARE_WEBHOOK_SECRET = SECRET
    # The clock stands still within a step: a call refused by the budget waits for no window.
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    settings.PLAN_LIMIT_FREE = 10**8
    started = time.perf_counter()
    tenants = seed_in_child(sim, args.domains)
    print(f"{args.domains:,} active domains seeded in {time.perf_counter() - started:.0f}s")

    interval = sync.active_interval(args.domains)
    duration = args.hours * 3600
    # Forward in time only (the rate budget's windows), with the shared check mid-hour.
    mark = (math.floor(time.time() / interval) + 2) * interval
    start = datetime.fromtimestamp(mark - duration / 2, UTC)
    sim.use_clock(start)
    sim.configure(delays=Delays(records=0.0, issuance=20.0, deployment=10.0, dns_cache=0.0))
    statements = StatementCounter()
    if not args.no_push:
        sim.subscribe(f"{setup_env.serve_app(statements.around)}/webhooks/cloudflare", SECRET)
    push.kick_hints = lambda *, settle=False: None  # the loop below acts on the hints instead
    Domain.objects.update(next_sync_at=datetime.fromtimestamp(mark, UTC))
    if connection.vendor == "postgresql":
        # What autovacuum does to a table after a million rows arrive, before the hour: without
        # statistics the planner takes a table just seeded for a small one (a sequential scan
        # of the zone to count a few due domains), and its dead rows are the seeding's.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    rng = random.Random(args.seed)
    new = max(1, round(args.domains * args.changes / 100 * args.hours))
    arrivals = sorted(rng.uniform(0, duration - 600) for _ in range(new))
    cnames: list[tuple[float, str]] = []
    beat = float(settings.CELERY_BEAT_SCHEDULE["every-1m-schedule-domain-sync"]["schedule"])
    windows: Counter[int] = Counter()
    cpu: list[float] = []
    server: list[float] = []  # the database server's CPU, when it runs on this machine
    sql: list[int] = []
    hint_calls = sync_calls = mark_calls = 0
    registered = 0
    since = sim.request_count()
    gc.collect()
    peak_reset = reset_peak_memory()
    print(f"resident memory at the start of the hour: {memory_mib('VmRSS'):.0f} MiB")
    wall = time.perf_counter()
    with (
        connection.execute_wrapper(statements),
        time_machine.travel(start, tick=False) as clock,
    ):
        elapsed, next_cycle = 0.0, 0.0
        window_cpu, window_sql = time.process_time(), statements.count
        window_server = setup_env.local_database_cpu()
        while elapsed < duration:
            while arrivals and arrivals[0] <= elapsed:
                arrivals.pop(0)
                hostname = f"new{registered}.bench-customer.dev"
                tenant = Organization.objects.get(pk=tenants[registered % len(tenants)])
                domain_register(organization=tenant, hostname=hostname)
                cnames.append((elapsed + rng.uniform(60, 600), hostname))
                registered += 1
            for moment, hostname in [c for c in cnames if c[0] <= elapsed]:
                cnames.remove((moment, hostname))
                sim.set_cname(hostname, True)
            sim.step_to(start + timedelta(seconds=elapsed))
            window = int(elapsed // WINDOW)
            # The clock stands still within a step: a refused call waits for no window.
            report = push.hints_process(client=CloudflareClient(max_wait=0.0))
            hint_calls += report.fetched
            windows[window] += report.fetched
            if elapsed >= next_cycle:
                run = sync.run_cycle(trigger="bench")
                sync_calls += run.cloudflare_calls
                windows[window] += run.cloudflare_calls
                if {"", "active"} & set(run.listed):
                    # The shared check (and its rest in later windows): only it lists the
                    # active certificates here, or the whole zone.
                    mark_calls += run.cloudflare_calls
                next_cycle += beat
            clock.shift(args.step)
            elapsed += args.step
            if int(elapsed // WINDOW) != window:
                cpu.append(time.process_time() - window_cpu)
                sql.append(statements.count - window_sql)
                window_cpu, window_sql = time.process_time(), statements.count
                used = setup_env.local_database_cpu()
                if used is not None and window_server is not None:
                    server.append(used - window_server)
                window_server = used
                print(
                    f"  window {window + 1}: {windows[window]} calls, {cpu[-1]:.1f} s of CPU, "
                    + (f"the database server {server[-1]:.1f} s, " if server else "")
                    + f"{sql[-1]} SQL statements",
                    flush=True,
                )
    wall = time.perf_counter() - wall
    peak = memory_mib("VmHWM")
    active = Domain.objects.filter(hostname__startswith="new", status=DomainStatus.ACTIVE)
    counted = sim.request_kinds(since)
    budget = int(settings.CLOUDFLARE_RATE_LIMIT) - int(settings.CLOUDFLARE_RATE_RESERVED)
    per_window = [windows[w] for w in range(math.ceil(duration / WINDOW))]
    background = hint_calls + sync_calls
    # The shared check's full size: what it listed here, plus a page per 50 of the seeded
    # domains it had not reached by the end of the hour.
    unlisted = Domain.objects.filter(
        hostname__startswith="shop", last_synced_at__lt=datetime.fromtimestamp(mark, UTC)
    ).count()
    mark_full = mark_calls + math.ceil(unlisted / 50)
    steady = (background - mark_calls) + mark_full * duration / interval
    mean = steady / (duration / WINDOW)
    due_gets = sum(SyncRun.objects.filter(trigger="bench").values_list("claimed", flat=True))
    print(
        f"{args.hours:g} simulated hour(s) in {wall:.0f}s; push {'off' if args.no_push else 'on'}; "
        f"{registered} domains added, {active.count()} of them active by the end"
    )
    print(f"Cloudflare requests by kind: {counted}")
    print(
        f"background calls: {background} (sync loop {sync_calls}, of which the shared check "
        f"of every active domain {mark_calls}; hints {hint_calls}); a GET per due domain "
        f"would have been {due_gets + hint_calls}"
    )
    if unlisted:
        print(
            f"the shared check had {unlisted:,} domains left to list at the end: counted at its "
            f"full size, {mark_full:,} calls"
        )
    print(f"calls per 5-minute window: {per_window} ({spread(per_window)})")
    print(f"our CPU per window (s): {[round(c, 1) for c in cpu]} ({spread(cpu)})")
    if server:
        print(
            f"the database server's CPU per window (s): {[round(c, 1) for c in server]} "
            f"({spread(server)})"
        )
    print(f"SQL statements per window: {sql} ({spread(sql)})")
    print(
        f"peak resident memory of the hour: {peak:.0f} MiB"
        + ("" if peak_reset else " (the process's peak: its reset is not available here)")
        + f"; the simulator answered for {sim.answering_seconds():.0f}s"
    )
    outcomes = CloudflareHint.objects.values_list("event_type", "outcome").annotate(n=Count("id"))
    print(
        "hints by step and outcome:",
        sorted((t.rsplit(".", 2)[-2], o, n) for t, o, n in outcomes.order_by()),
    )
    print(
        f"steady state (the shared check counted once per {interval / 3600:g} h): {mean:.1f} "
        f"calls a window on average = {100 * mean / budget:.1f}% of the bulk budget "
        f"({budget} a window)"
    )


if __name__ == "__main__":
    main()
