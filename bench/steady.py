"""What a steady state costs in Cloudflare calls: 50,000 domains, 1% of them changing an hour,
push on (prints figures; not a test).

    python bench/steady.py                          # 50,000 domains, one hour, SQLite
    python bench/steady.py --domains 5000 --no-push
    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/steady.py

In this process: the Cloudflare simulator (a certificate takes 20 s to issue and 10 s to
deploy once validated), the app's receiver behind a WSGI server on loopback (push on unless
--no-push), and a simulated clock (time-machine) moved --step seconds at a time. At each step
the simulator applies what is due and sends its notifications, the receiver records them, the
hints due are acted on (what `process_hints` does), and every SYNC_SCHEDULE_SECONDS a sync
cycle runs (what beat and the workers do).

At the start every domain is active and was checked at the last six-hour mark. Over the hour,
1% of the zone in new domains is added at random moments (user calls, not counted as
background), and each one's customer creates the CNAME 1 to 10 minutes later. The hour is
placed so that the six-hour mark falls in its middle: the check of every active domain (one
listing of the active certificates) is measured there, and also counted at its real rate, once
in six hours. Prints the background calls (sync loop and hints) of each 5-minute window, their
mean against the bulk budget (CLOUDFLARE_RATE_LIMIT - CLOUDFLARE_RATE_RESERVED a window), and
what a GET per due domain would have spent.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime

import setup_env  # noqa: E402 - before anything that imports Django

WORKDIR = setup_env.configure("steady", ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="ERROR")

import requests  # noqa: E402
import time_machine  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.models import Count  # noqa: E402

from accounts.models import Organization  # noqa: E402
from domains import sync  # noqa: E402
from domains.cloudflare import CloudflareClient, parse_hostname  # noqa: E402
from domains.models import CloudflareHint, Domain, DomainStatus, SyncRun  # noqa: E402
from domains.push import services as push  # noqa: E402
from domains.services import domain_register, records_for, remote_fields  # noqa: E402
from sandbox.cloudflare import CloudflareSandbox, Delays  # noqa: E402

SECRET = "bench-push-secret"  # noqa: S105 - the simulator's and the receiver's shared secret
WINDOW = 300  # seconds: Cloudflare's rate window


def grow_active(sim: CloudflareSandbox, organization: Organization, total: int) -> None:
    """`total` active domains, registered at the simulator over loopback HTTP, their rows as
    the sync loop leaves them."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    url = f"{sim.base_url}/zones/{sim.zone_id}/custom_hostnames"
    rows = []
    for n in range(total):
        hostname = f"shop{n}.bench-customer.dev"
        response = session.post(url, json={"hostname": hostname}, timeout=10)
        response.raise_for_status()
        sim.set_cname(hostname, True)
        rows.append(
            Domain(organization=organization, hostname=hostname, cloudflare_id="", dns_records=[])
        )
    by_name = {item["hostname"]: parse_hostname(item) for item in sim.hostnames()}
    now = datetime.now(UTC)
    for domain in rows:
        remote = by_name[domain.hostname]
        for name, value in remote_fields(domain, remote, now).items():
            setattr(domain, name, value)
        domain.dns_records = records_for(domain.hostname, remote)
        domain.last_synced_at = now
    Domain.objects.bulk_create(rows, batch_size=1000)
    assert not Domain.objects.exclude(status=DomainStatus.ACTIVE).exists()  # noqa: S101


def kinds(sim: CloudflareSandbox, since: int) -> Counter[str]:
    counted: Counter[str] = Counter()
    for request in sim.requests[since:]:
        if request.path.endswith("/custom_hostnames") and request.method == "GET":
            counted["listing pages"] += 1
        elif "/custom_hostnames/" in request.path and request.method == "GET":
            counted["GETs"] += 1
        elif "/custom_hostnames" in request.path:
            counted[request.method] += 1
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--domains", type=int, default=50_000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--step", type=float, default=5.0, help="simulated seconds per step")
    parser.add_argument("--no-push", action="store_true", help="no destination at Cloudflare")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        print(f"SQLite file: {settings.DATABASES['default']['NAME']}")
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    sim = setup_env.start_simulator()
    sim.configure(hard_cap=10 * args.domains)  # the zone grows past 50,000 here
    settings.CLOUDFLARE_WEBHOOK_SECRET = SECRET
    # The clock stands still within a step: a call refused by the budget waits for no window.
    settings.SYNC_BUDGET_WAIT_SECONDS = 0
    settings.PLAN_LIMIT_FREE = 10**6
    organization, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    started = time.perf_counter()
    grow_active(sim, organization, args.domains)
    print(f"{args.domains:,} active domains registered in {time.perf_counter() - started:.0f}s")
    sim.configure(delays=Delays(records=0.0, issuance=20.0, deployment=10.0, dns_cache=0.0))
    if not args.no_push:
        sim.alerts.subscribe(f"{setup_env.serve_app()}/webhooks/cloudflare", SECRET)
    push.kick_hints = lambda *, settle=False: None  # the loop below acts on the hints instead

    interval = int(settings.SYNC_ACTIVE_INTERVAL_SECONDS)
    duration = args.hours * 3600
    # Forward in time only (the rate budget's windows), with the six-hour mark mid-hour.
    mark = (math.floor(time.time() / interval) + 2) * interval
    start = datetime.fromtimestamp(mark - duration / 2, UTC)
    Domain.objects.update(next_sync_at=datetime.fromtimestamp(mark, UTC))
    rng = random.Random(args.seed)
    new = max(1, args.domains // 100)
    arrivals = sorted(rng.uniform(0, duration - 600) for _ in range(new))
    cnames: list[tuple[float, str]] = []
    beat = float(settings.CELERY_BEAT_SCHEDULE["every-1m-schedule-domain-sync"]["schedule"])
    windows: Counter[int] = Counter()
    hint_calls = sync_calls = mark_calls = 0
    registered = 0
    since = len(sim.requests)
    wall = time.perf_counter()
    with time_machine.travel(start, tick=False) as clock:
        elapsed, next_cycle = 0.0, 0.0
        while elapsed < duration:
            while arrivals and arrivals[0] <= elapsed:
                arrivals.pop(0)
                hostname = f"new{registered}.bench-customer.dev"
                domain_register(organization=organization, hostname=hostname)
                cnames.append((elapsed + rng.uniform(60, 600), hostname))
                registered += 1
            for moment, hostname in [c for c in cnames if c[0] <= elapsed]:
                cnames.remove((moment, hostname))
                sim.set_cname(hostname, True)
            sim.tick()
            sim.alerts.wait_idle()
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
                    # The six-hour check (and its rest in the next window): only it lists
                    # the active certificates here, or the whole zone.
                    mark_calls += run.cloudflare_calls
                next_cycle += beat
            clock.shift(args.step)
            elapsed += args.step
    wall = time.perf_counter() - wall
    active = Domain.objects.filter(hostname__startswith="new", status=DomainStatus.ACTIVE)
    counted = kinds(sim, since)
    budget = int(settings.CLOUDFLARE_RATE_LIMIT) - int(settings.CLOUDFLARE_RATE_RESERVED)
    per_window = [windows[w] for w in range(math.ceil(duration / WINDOW))]
    background = hint_calls + sync_calls
    steady = background - mark_calls + mark_calls * duration / interval
    mean = steady / (duration / WINDOW)
    due_gets = sum(SyncRun.objects.filter(trigger="bench").values_list("claimed", flat=True))
    print(
        f"{args.hours:g} simulated hour(s) in {wall:.0f}s; push {'off' if args.no_push else 'on'}; "
        f"{registered} domains added, {active.count()} of them active by the end"
    )
    print(f"Cloudflare requests by kind: {dict(counted)}")
    print(
        f"background calls: {background} (sync loop {sync_calls}, of which the six-hour check "
        f"of every active domain {mark_calls}; hints {hint_calls}); a GET per due domain "
        f"would have been {due_gets + hint_calls}"
    )
    print(f"per 5-minute window: {per_window}")
    outcomes = CloudflareHint.objects.values_list("event_type", "outcome").annotate(n=Count("id"))
    print(
        "hints by step and outcome:",
        sorted((t.rsplit(".", 2)[-2], o, n) for t, o, n in outcomes.order_by()),
    )
    print(
        f"steady state (the six-hour check counted once in six hours): {mean:.1f} calls a "
        f"window on average = {100 * mean / budget:.1f}% of the bulk budget ({budget} a window)"
    )


if __name__ == "__main__":
    main()
